/**
 * [cluster] The Redis event log's in-memory mirror on its own (no Redis): reads across the
 * mirrored range, the tail bound, the `prepare` extension and its expiry, the byte bound trimming
 * the least recently used sessions first, gaps, pruning estimates, and rolling back refused events.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { LogMirror, MIRROR_EXTENSION_TTL_MS, type LogMirrorOptions, type QueuedEvent } from '../persistence/redis/logMirror.js';
import type { LoggedEvent } from '../persistence/types.js';

function event(sessionId: string, seq: number, json = `{"seq":${String(seq).padStart(4, '0')}}`): LoggedEvent {
  return { sessionId, seq, runId: 'r', kind: 'text', json, at: seq };
}
const EVENT_BYTES = event('s', 1).json.length;

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const seqsOf = (events: LoggedEvent[]) => events.map((e) => e.seq);

function mirrorWith(options: Partial<LogMirrorOptions> = {}) {
  let now = 1_000_000;
  const mirror = new LogMirror({ tailEvents: 5, maxEventsPerSession: 1_000, maxBytesPerSession: 1_000_000, now: () => now, ...options });
  let ordinal = 0;
  const own = (sessionId: string, seq: number) => {
    const session = mirror.getOrCreate(sessionId);
    const queued: QueuedEvent = { event: event(sessionId, seq), bytes: EVENT_BYTES, ordinal: ++ordinal };
    mirror.addOwn(session, queued);
    return session;
  };
  const remote = (sessionId: string, seqs: number[]) => {
    const events = seqs.map((seq) => event(sessionId, seq));
    mirror.addRemote(mirror.getOrCreate(sessionId), events, events.map(() => EVENT_BYTES));
  };
  const load = (sessionId: string, afterSeq: number, latestSeq: number, oldestSeq = 1) => {
    const session = mirror.getOrCreate(sessionId);
    mirror.load(session, { latestSeq, oldestSeq, events: range(Math.max(afterSeq + 1, oldestSeq), latestSeq).map((seq) => event(sessionId, seq)) }, afterSeq);
    return session;
  };
  return { mirror, own, remote, load, advance: (ms: number) => (now += ms) };
}

test('own appends stay mirrored until written, then the tail bound applies', () => {
  const { mirror, own } = mirrorWith();
  let session = own('s', 1);
  for (let seq = 2; seq <= 8; seq++) session = own('s', seq);
  assert.equal(seqsOf(session.read(0, 100)), range(1, 8), 'unwritten events are never trimmed');
  mirror.acknowledge(session, 8, 1);
  assert.equal(seqsOf(session.read(0, 100)), range(4, 8));
  assert.is(session.latestSeq, 8);
  assert.is(session.writtenSeq, 8);
  assert.is(session.oldestSeq(), 1, 'the backend still holds seq 1');
  assert.equal(seqsOf(session.read(2, 2)), [4, 5], 'a gap shows as the first seq');
  assert.is(mirror.bytes, 5 * EVENT_BYTES);
});

test('a load far behind is kept for the extension time, then trimmed to the tail', () => {
  const { mirror, load, advance } = mirrorWith();
  const session = load('s', 10, 40);
  assert.equal(seqsOf(session.read(10, 100)), range(11, 40));
  assert.ok(session.covers(10));
  assert.ok(!session.covers(5), 'older events were not loaded');
  advance(MIRROR_EXTENSION_TTL_MS - 1);
  mirror.sweepExtensions();
  assert.is(session.length, 30);
  advance(2);
  mirror.sweepExtensions();
  assert.equal(seqsOf(session.read(0, 100)), range(36, 40));
  assert.is(mirror.bytes, 5 * EVENT_BYTES);
  // Loading more later puts the older events in front of the mirrored ones.
  load('s', 0, 40);
  assert.equal(seqsOf(session.read(0, 100)), range(1, 40));
});

test('past the byte bound the least recently used sessions lose their extensions first', () => {
  const { mirror, load } = mirrorWith({ maxBytes: 70 * EVENT_BYTES });
  const first = load('first', 0, 30);
  const second = load('second', 0, 30);
  mirror.touch(first);
  assert.is(mirror.bytes, 60 * EVENT_BYTES);
  const third = load('third', 0, 30);
  assert.is(second.length, 5, 'least recently used: trimmed');
  assert.is(first.length, 30);
  assert.is(third.length, 30);
  assert.ok(mirror.bytes <= 70 * EVENT_BYTES);
});

test('remote events extend the range; a gap (pruned before it was read) restarts it', () => {
  const { mirror, remote, load } = mirrorWith({ tailEvents: 100 });
  const session = load('s', 0, 3);
  remote('s', [4, 5]);
  assert.equal(seqsOf(session.read(0, 100)), range(1, 5));
  assert.is(session.writtenSeq, 5);
  remote('s', [9, 10]);
  assert.equal(seqsOf(session.read(0, 100)), [9, 10]);
  assert.is(session.oldestSeq(), 9);
  assert.is(mirror.bytes, 2 * EVENT_BYTES);
});

test('the backend\'s pruning is followed from the bounds', () => {
  const byCount = mirrorWith({ tailEvents: 100, maxEventsPerSession: 4 });
  const counted = byCount.load('s', 0, 3);
  byCount.remote('s', [4, 5, 6]);
  assert.is(counted.oldestSeq(), 3);
  assert.equal(seqsOf(counted.read(0, 100)), range(3, 6));
  const byBytes = mirrorWith({ tailEvents: 100, maxBytesPerSession: 3 * EVENT_BYTES });
  const sized = byBytes.load('s', 0, 2);
  byBytes.remote('s', [3, 4, 5]);
  assert.is(sized.oldestSeq(), 3);
  assert.equal(seqsOf(sized.read(0, 100)), [3, 4, 5]);
});

test('rolling back drops the unwritten events and moves the epoch', () => {
  const { mirror, own, load } = mirrorWith({ tailEvents: 100 });
  const session = load('s', 0, 3);
  own('s', 4);
  own('s', 5);
  const epoch = session.epoch;
  assert.is(mirror.rollBack(session), 2);
  assert.is(session.latestSeq, 3);
  assert.equal(seqsOf(session.read(0, 100)), [1, 2, 3]);
  assert.equal(session.pending, []);
  assert.is(session.epoch, epoch + 1);
  assert.is(mirror.bytes, 3 * EVENT_BYTES);
});

// A lagging socket's catch-up loads the range while the stream reader is still on its way with
// the newest events: the load may know a newer latest seq than the mirror holds. If the mirror
// took that seq as its own, the reader (which reads after `latestSeq`, and drops what is not
// newer) would never bring the events between: a viewer was sent the gap notice and never got
// the run's `complete` (clusterCatchUp.spec under load).
test('a load that knows newer events than the mirror holds leaves them to the reader', () => {
  const { mirror, remote } = mirrorWith({ tailEvents: 100 });
  remote('s', range(1, 600));
  const session = mirror.getOrCreate('s');
  assert.equal(seqsOf(session.read(500, 1000)), range(501, 600), 'the tail');
  // The backend already holds 601 (the complete); the reader has not delivered it yet.
  mirror.load(session, { latestSeq: 601, oldestSeq: 1, events: range(401, 601).map((seq) => event('s', seq)) }, 400);
  assert.equal(seqsOf(session.read(400, 1000)), range(401, 600), 'the older events joined the range');
  assert.is(session.latestSeq, 600, 'no seq the mirror lacks');
  assert.ok(session.writtenSeq <= 600);
  assert.ok(session.covers(600), 'a catch-up at 600 waits for the reader instead of loading again');
  remote('s', [601]);
  assert.equal(seqsOf(session.read(600, 10)), [601], 'the reader brings it');
  assert.is(session.latestSeq, 601);
});

test.run();
