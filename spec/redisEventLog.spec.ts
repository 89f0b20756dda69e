/**
 * [cluster] The Redis event log with two nodes on one real redis-server: appends only touch
 * memory and `whenWritten` waits for Redis's acknowledgement; the lease token fences every write
 * (no lease, a stale token after a takeover); the `complete` write frees the session; another
 * node's events reach a watching node through its reader, in order and once, and `sync` delivers
 * them before it resolves; pruning by events and bytes; the mirror's reads and bounds.
 */
import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { ClusterBackend } from '../persistence/cluster/types.js';
import { RedisKeys } from '../persistence/redis/keys.js';
import { RedisScripts } from '../persistence/redis/scripts.js';
import type { LoggedEvent } from '../persistence/types.js';
import { lostRuns, redisNodes, sleep, until, type Node } from './support/redisNodes.js';

let raw: Redis;
const nodes = redisNodes({ letter: 't' });
const { twoNodes } = nodes;

function event(sessionId: string, seq: number, runId = 'run-1', kind = 'text', json = `{"seq":${seq}}`): LoggedEvent {
  return { sessionId, seq, runId, kind, json, at: 1_700_000_000_000 + seq };
}

const written = (backend: ClusterBackend) => new Promise<void>((resolve) => backend.eventLog.whenWritten!(resolve));

const remoteSeqs = (node: Node, sessionId: string) => node.remote.filter((r) => r.sessionId === sessionId).flatMap((r) => r.seqs);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const streamSeqs = async (prefix: string, sessionId: string) =>
  ((await raw.xrange(`${prefix}log:{${sessionId}}`, '-', '+')) as Array<[string, string[]]>).map(([id]) => Number(id.split('-')[0]));

async function acquire(node: Node, sessionId: string, runId = 'run-1') {
  const result = await node.backend.runs.acquire(sessionId, { runId, provider: 'demo', startedAt: Date.now() });
  assert.is(result.outcome, 'acquired');
  return result;
}

test.before(async () => {
  raw = new Redis((await nodes.start()).url);
});

test.after(() => nodes.stop(raw));

test('append only touches memory; whenWritten calls back once Redis acknowledged it', async () => {
  const { a, prefix } = await twoNodes();
  await a.backend.eventLog.prepare('s', 0);
  await acquire(a, 's');
  for (let seq = 1; seq <= 3; seq++) a.backend.eventLog.append(event('s', seq));
  // Nothing has been sent yet: the write goes out once per event-loop turn.
  assert.is(a.backend.eventLog.health().pendingEvents, 3);
  assert.equal(a.backend.eventLog.read('s', 0, 10).map((e) => e.seq), [1, 2, 3], 'reads see unwritten events');
  assert.is(a.backend.eventLog.latestSeq('s'), 3);
  let called = false;
  const done = new Promise<void>((resolve) =>
    a.backend.eventLog.whenWritten!(() => {
      called = true;
      resolve();
    }),
  );
  assert.is(called, false, 'not before the acknowledgement');
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(called, false, 'not when the write is sent either');
  await done;
  assert.equal(await streamSeqs(prefix, 's'), [1, 2, 3]);
  assert.is(a.backend.eventLog.health().pendingEvents, 0);
  assert.is(a.backend.eventLog.health().degraded, false);
  assert.equal(await raw.hgetall(`${prefix}meta:{s}`), { latest: '3', bytes: String(3 * '{"seq":1}'.length) });
  // With nothing unwritten it calls back at once.
  let immediate = false;
  a.backend.eventLog.whenWritten!(() => (immediate = true));
  assert.is(immediate, true);
});

test('append validates like the SQLite log', async () => {
  const { a } = await twoNodes();
  await acquire(a, 's');
  a.backend.eventLog.append(event('s', 1));
  assert.throws(() => a.backend.eventLog.append(event('s', 1)), RangeError);
  assert.throws(() => a.backend.eventLog.append(event('s', 1.5)), RangeError);
  assert.throws(() => a.backend.eventLog.append({ ...event('s', 2), json: undefined as unknown as string }), TypeError);
  assert.throws(() => a.backend.eventLog.append({ ...event('s', 2), at: Number.NaN }), TypeError);
  await written(a.backend);
  assert.is(a.refused.length, 0);
});

test('a node without the lease is refused; its unwritten events leave its mirror', async () => {
  const { a, b, prefix } = await twoNodes();
  await a.backend.eventLog.prepare('s', 0);
  await b.backend.eventLog.prepare('s', 0);
  await acquire(a, 's');
  a.backend.eventLog.append(event('s', 1));
  await written(a.backend);
  await until('B mirrors seq 1', () => b.backend.eventLog.latestSeq('s') === 1);

  // No lease at all: refused before anything is sent.
  b.backend.eventLog.append(event('s', 2, 'run-x'));
  await written(b.backend);
  assert.equal(b.refused, [{ sessionId: 's', reason: 'fenced' }]);
  assert.is(b.backend.eventLog.latestSeq('s'), 1, 'rolled back to what Redis holds');
  assert.equal(b.backend.eventLog.read('s', 0, 10).map((e) => e.seq), [1]);

  // A token that is not the lease's: Redis refuses the batch.
  b.fence.set('s', 'not-the-token');
  b.backend.eventLog.append(event('s', 2, 'run-x'));
  await written(b.backend);
  assert.equal(b.refused.map((r) => r.reason), ['fenced', 'fenced']);
  assert.equal(await streamSeqs(prefix, 's'), [1]);

  // A still writes on.
  a.backend.eventLog.append(event('s', 2));
  await written(a.backend);
  assert.equal(await streamSeqs(prefix, 's'), [1, 2]);
  await until('B gets seq 2 from A', () => remoteSeqs(b, 's').includes(2));
  assert.equal(remoteSeqs(b, 's'), [1, 2]);
});

test('after a takeover the old token is refused and its node loses the lease', async () => {
  const { a, b, prefix } = await twoNodes({ leaseMs: 300 });
  await a.backend.eventLog.prepare('s', 0);
  await b.backend.eventLog.prepare('s', 0);
  await acquire(a, 's');
  a.backend.eventLog.append(event('s', 1));
  await written(a.backend);
  // A stalls: its lease expires in Redis (deleted here, as an expiry would).
  await raw.del(`${prefix}lease:{s}`);
  const taken = await b.backend.runs.takeOver('s', 'run-1');
  assert.ok(taken);
  assert.is(taken.latestSeq, 1);
  a.backend.eventLog.append(event('s', 2));
  await written(a.backend);
  assert.equal(a.refused, [{ sessionId: 's', reason: 'fenced' }]);
  assert.is(a.backend.eventLog.latestSeq('s'), 1);
  await until('A hears its lease is gone', () => a.lost.length === 1, 1_000);
  assert.equal(lostRuns(a), [{ sessionId: 's', runId: 'run-1' }]);
  assert.is(a.backend.runs.tokenOf('s'), null);

  // B sequences the run's end after A's last written event; A's viewers get it.
  await b.backend.eventLog.sync('s');
  b.backend.eventLog.append(event('s', 2, 'run-1', 'complete'));
  await written(b.backend);
  assert.equal(await streamSeqs(prefix, 's'), [1, 2]);
  await until('A gets the complete', () => remoteSeqs(a, 's').includes(2));
  assert.equal(a.backend.eventLog.read('s', 0, 10).map((e) => e.kind), ['text', 'complete']);
  assert.is(await raw.exists(`${prefix}run:{s}`), 0);
});

test('a batch retried after its reply was lost is acknowledged, not refused nor written twice', async () => {
  const { a, prefix } = await twoNodes();
  const acquired = await acquire(a, 's');
  const token = acquired.outcome === 'acquired' ? acquired.token : '';
  const keys = new RedisKeys(prefix);
  const scripts = new RedisScripts(raw);
  const appendKeys = [keys.log('s'), keys.meta('s'), keys.lease('s'), keys.run('s'), keys.runs, keys.sessions, keys.session('s')];
  const batch = (token: string, seqs: number[], json = (seq: number) => `{"seq":${seq}}`) => [
    token, 1_000, 1_000_000, 's',
    ...seqs.flatMap((seq) => [String(seq), 'run-1', 'text', json(seq), '1']),
  ];
  assert.equal(await scripts.run('agAppend', appendKeys, batch(token, [1, 2])), ['ok', '2', '1']);
  assert.equal(await scripts.run('agAppend', appendKeys, batch(token, [1, 2])), ['ok', '2', '1'], 'the same batch again');
  assert.equal(await scripts.run('agAppend', appendKeys, batch(token, [2, 3])), ['ok', '3', '1'], 'overlapping: only 3 is new');
  assert.equal(await streamSeqs(prefix, 's'), [1, 2, 3]);
  assert.equal(
    await scripts.run('agAppend', appendKeys, batch(token, [3, 4], (seq) => `{"other":${seq}}`)),
    ['conflict', '3', '0'],
    'a different event at a written seq',
  );
  assert.equal(await scripts.run('agAppend', appendKeys, batch(token, [5])), ['conflict', '3', '0'], 'a gap');
  assert.equal(await scripts.run('agAppend', appendKeys, batch('stale', [4])), ['fenced', '3', '0']);
  // Even without the lease, a retry of what was written is acknowledged (a complete ends the lease).
  assert.equal(await scripts.run('agAppend', appendKeys, batch('stale', [2, 3])), ['ok', '3', '1']);
  assert.equal(await streamSeqs(prefix, 's'), [1, 2, 3]);
});

test('writing the run\'s complete frees the session in the same step', async () => {
  const { a, b, prefix } = await twoNodes();
  await b.backend.sessions.createSession({ provider: 'demo', sessionId: 's' });
  const before = Number(await raw.zscore(`${prefix}sessions`, 's'));
  await a.backend.eventLog.prepare('s', 0);
  await acquire(a, 's');
  assert.equal(await raw.smembers(`${prefix}runs`), ['s']);
  for (let seq = 1; seq <= 3; seq++) a.backend.eventLog.append(event('s', seq));
  const completeAt = Date.now() + 60_000;
  a.backend.eventLog.append({ ...event('s', 4, 'run-1', 'complete'), at: completeAt });
  await written(a.backend);
  assert.is(await raw.exists(`${prefix}run:{s}`, `${prefix}lease:{s}`), 0);
  assert.equal(await raw.smembers(`${prefix}runs`), []);
  assert.is(a.backend.runs.tokenOf('s'), null, 'the log told the leases');
  assert.is(Number(await raw.zscore(`${prefix}sessions`, 's')), completeAt);
  assert.ok(completeAt > before);
  assert.is(Number(await raw.hget(`${prefix}session:{s}`, 'updatedAt')), completeAt);
  const next = await b.backend.runs.acquire('s', { runId: 'run-2', provider: 'demo', startedAt: Date.now() });
  assert.equal(next.outcome === 'acquired' && next.latestSeq, 4);
  // A complete of another run does not end the current one.
  await b.backend.eventLog.prepare('s', 4);
  b.backend.eventLog.append(event('s', 5, 'run-1', 'complete'));
  await written(b.backend);
  assert.is(await raw.hget(`${prefix}run:{s}`, 'runId'), 'run-2');
  assert.ok(b.backend.runs.tokenOf('s'));
});

test('a watching node gets the other node\'s events through its reader, in order, once', async () => {
  const { a, b } = await twoNodes();
  await b.backend.eventLog.prepare('s', 0);
  await b.backend.eventLog.prepare('other', 0);
  await a.backend.eventLog.prepare('s', 0);
  await acquire(a, 's');
  let seq = 0;
  for (let turn = 0; turn < 20; turn++) {
    for (let i = 0; i < 5; i++) a.backend.eventLog.append(event('s', ++seq));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await written(a.backend);
  await until('B has all 100', () => remoteSeqs(b, 's').length >= 100);
  await sleep(100);
  assert.equal(remoteSeqs(b, 's'), range(1, 100));
  assert.equal(remoteSeqs(a, 's'), [], 'a node is not told of its own events');
  assert.is(b.backend.eventLog.latestSeq('s'), 100);
  assert.equal(b.backend.eventLog.read('s', 95, 10).map((e) => e.seq), [96, 97, 98, 99, 100]);
  assert.equal(b.backend.eventLog.read('s', 0, 1)[0].json, '{"seq":1}');
  // A session that starts being watched later is read from its mirror's position on.
  await acquire(a, 'late');
  await a.backend.eventLog.prepare('late', 0);
  a.backend.eventLog.append(event('late', 1));
  await written(a.backend);
  await b.backend.eventLog.prepare('late', 0);
  a.backend.eventLog.append(event('late', 2));
  await written(a.backend);
  await until('B gets late 2', () => remoteSeqs(b, 'late').includes(2));
  assert.equal(remoteSeqs(b, 'late'), [2], 'seq 1 came with prepare, not as a remote event');
  assert.equal(b.backend.eventLog.read('late', 0, 10).map((e) => e.seq), [1, 2]);
});

test('a session watched while the reader is blocked is read at once, not after the BLOCK time', async () => {
  const { a, b } = await twoNodes();
  await b.backend.eventLog.prepare('first', 0);
  await sleep(100); // the reader is blocked in XREAD on `first` alone by now
  const sessions = Array.from({ length: 40 }, (_, i) => `w${i}`);
  // Watched in a burst, each change cutting short the read in flight.
  await Promise.all(sessions.map((sessionId) => b.backend.eventLog.prepare(sessionId, 0)));
  const started = Date.now();
  for (const sessionId of sessions) {
    await acquire(a, sessionId);
    await a.backend.eventLog.prepare(sessionId, 0);
    a.backend.eventLog.append(event(sessionId, 1));
  }
  await written(a.backend);
  await until('B gets every session', () => sessions.every((sessionId) => remoteSeqs(b, sessionId).length === 1), 4_000);
  assert.ok(Date.now() - started < 2_000, `delivered after ${Date.now() - started} ms`);
});

test('sync delivers what the mirror lacks before it resolves, and the reader never repeats it', async () => {
  const { a, b } = await twoNodes();
  await acquire(a, 's');
  await a.backend.eventLog.prepare('s', 0);
  await b.backend.eventLog.prepare('s', 0);
  for (let round = 0; round < 10; round++) {
    const base = round * 3;
    for (let i = 1; i <= 3; i++) a.backend.eventLog.append(event('s', base + i));
    await written(a.backend);
    await b.backend.eventLog.sync('s');
    assert.ok(remoteSeqs(b, 's').includes(base + 3), `round ${round}: delivered by the time sync resolved`);
  }
  await sleep(150);
  assert.equal(remoteSeqs(b, 's'), range(1, 30));
});

test('unwatch stops the deliveries and lets the mirror go', async () => {
  const { a, b } = await twoNodes();
  await acquire(a, 's');
  await b.backend.eventLog.prepare('s', 0);
  a.backend.eventLog.append(event('s', 1));
  await written(a.backend);
  await until('B gets 1', () => remoteSeqs(b, 's').length === 1);
  b.backend.eventLog.unwatch('s');
  assert.is(b.backend.eventLog.latestSeq('s'), 0, 'no mirror any more');
  a.backend.eventLog.append(event('s', 2));
  await written(a.backend);
  await sleep(150);
  assert.equal(remoteSeqs(b, 's'), [1]);
  // Watching again loads from the backend and follows it again.
  await b.backend.eventLog.prepare('s', 1);
  assert.is(b.backend.eventLog.latestSeq('s'), 2);
  a.backend.eventLog.append(event('s', 3));
  await written(a.backend);
  await until('B gets 3', () => remoteSeqs(b, 's').includes(3));
  assert.equal(remoteSeqs(b, 's'), [1, 3]);
});

test('the log is pruned to maxEventsPerSession, oldest first', async () => {
  const { a, b, prefix } = await twoNodes({ maxEventsPerSession: 10, tailEvents: 100 });
  await acquire(a, 's');
  await b.backend.eventLog.prepare('s', 0);
  await a.backend.eventLog.prepare('s', 0);
  for (let seq = 1; seq <= 25; seq++) a.backend.eventLog.append(event('s', seq));
  await written(a.backend);
  assert.equal(await streamSeqs(prefix, 's'), range(16, 25));
  assert.equal(await a.backend.eventLog.seqBounds('s'), { latestSeq: 25, oldestSeq: 16 });
  assert.is(a.backend.eventLog.oldestSeq('s'), 16);
  assert.equal(a.backend.eventLog.read('s', 0, 100).map((e) => e.seq), range(16, 25), 'the mirror follows the pruning');
  assert.is(Number(await raw.hget(`${prefix}meta:{s}`, 'bytes')), 10 * '{"seq":16}'.length);
  // One script wrote and pruned: the reader can only find what was left.
  await until('B reads up to 25', () => b.backend.eventLog.latestSeq('s') === 25);
  assert.equal(remoteSeqs(b, 's'), range(16, 25));
  assert.is(b.backend.eventLog.oldestSeq('s'), 16);
  assert.equal(b.backend.eventLog.read('s', 0, 100).map((e) => e.seq), range(16, 25));
  // Written a few at a time, a reading node follows the pruning from its own mirror.
  for (let seq = 26; seq <= 40; seq++) {
    a.backend.eventLog.append(event('s', seq));
    await written(a.backend);
  }
  await until('B reads up to 40', () => b.backend.eventLog.latestSeq('s') === 40);
  assert.is(b.backend.eventLog.oldestSeq('s'), 31, 'a reading node estimates the pruning exactly');
  assert.equal(b.backend.eventLog.read('s', 0, 100).map((e) => e.seq), range(31, 40));
});

test('the log is pruned to maxBytesPerSession, keeping at least the newest event', async () => {
  const { a, prefix } = await twoNodes({ maxBytesPerSession: 100 });
  await acquire(a, 's');
  await a.backend.eventLog.prepare('s', 0);
  const json30 = (seq: number) => JSON.stringify({ seq, pad: 'x'.repeat(30 - 17 - String(seq).length) });
  assert.is(json30(1).length, 30);
  for (let seq = 1; seq <= 7; seq++) a.backend.eventLog.append(event('s', seq, 'run-1', 'text', json30(seq)));
  await written(a.backend);
  assert.equal(await streamSeqs(prefix, 's'), [5, 6, 7], '3 × 30 bytes fit in 100');
  assert.is(Number(await raw.hget(`${prefix}meta:{s}`, 'bytes')), 90);
  const big = JSON.stringify({ big: 'y'.repeat(300) });
  a.backend.eventLog.append(event('s', 8, 'run-1', 'text', big));
  await written(a.backend);
  assert.equal(await streamSeqs(prefix, 's'), [8], 'an event above the bound is kept alone');
  assert.equal(await a.backend.eventLog.seqBounds('s'), { latestSeq: 8, oldestSeq: 8 });
  // Multi-byte characters count as their UTF-8 bytes.
  const accents = JSON.stringify({ t: 'é'.repeat(20) });
  a.backend.eventLog.append(event('s', 9, 'run-1', 'text', accents));
  await written(a.backend);
  assert.is(Number(await raw.hget(`${prefix}meta:{s}`, 'bytes')), Buffer.byteLength(accents, 'utf8'));
});

test('prepare loads what follows afterSeq; read answers from where the mirror starts', async () => {
  const { a, b } = await twoNodes({ tailEvents: 5 });
  await acquire(a, 's');
  await a.backend.eventLog.prepare('s', 0);
  for (let seq = 1; seq <= 40; seq++) a.backend.eventLog.append(event('s', seq));
  await written(a.backend);
  assert.equal(a.backend.eventLog.read('s', 0, 100).map((e) => e.seq), range(36, 40), 'the writer keeps its tail');
  await b.backend.eventLog.prepare('s', 30);
  assert.is(b.backend.eventLog.latestSeq('s'), 40);
  assert.is(b.backend.eventLog.oldestSeq('s'), 1);
  assert.equal(b.backend.eventLog.read('s', 30, 100).map((e) => e.seq), range(31, 40), 'kept beyond the tail for the replay');
  assert.equal(b.backend.eventLog.read('s', 10, 3).map((e) => e.seq), [31, 32, 33], 'a gap shows as the first seq');
  await b.backend.eventLog.prepare('s', 0);
  assert.equal(b.backend.eventLog.read('s', 0, 100).map((e) => e.seq), range(1, 40));
  assert.equal(await b.backend.eventLog.readHistory('s', 35, 3).then((events) => events.map((e) => e.seq)), [36, 37, 38]);
  assert.equal(b.backend.eventLog.read('unknown', 0, 10), []);
  assert.is(b.backend.eventLog.latestSeq('unknown'), 0);
  assert.is(b.backend.eventLog.oldestSeq('unknown'), 0);
});

test('forgetSessionAsync deletes the log and its seq mark', async () => {
  const { a, prefix } = await twoNodes();
  await acquire(a, 's');
  await a.backend.eventLog.prepare('s', 0);
  for (let seq = 1; seq <= 3; seq++) a.backend.eventLog.append(event('s', seq));
  await written(a.backend);
  await a.backend.eventLog.forgetSessionAsync('s');
  assert.is(await raw.exists(`${prefix}log:{s}`, `${prefix}meta:{s}`), 0);
  assert.is(a.backend.eventLog.latestSeq('s'), 0);
  assert.equal(await a.backend.eventLog.seqBounds('s'), { latestSeq: 0, oldestSeq: 0 });
});

test('the unfinished-run API of ChatEventLog is inert on the cluster log', async () => {
  const { a } = await twoNodes();
  a.backend.eventLog.runStarted({ runId: 'r', sessionId: 's', provider: 'demo', startedAt: 1 });
  a.backend.eventLog.runCompleted('r', { exitCode: 0, aborted: false, completedAt: 2 });
  assert.equal(a.backend.eventLog.unfinishedRuns(), []);
});

test.run();
