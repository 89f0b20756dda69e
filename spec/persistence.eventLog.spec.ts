/**
 * The SQLite chat event log when the disk works: batching, reads across the in-memory tail and
 * SQLite, pruning by entries and bytes, restarts, runs.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../persistence/database.js';
import type { GatewayDatabase } from '../persistence/database.js';
import { createSqliteEventLog } from '../persistence/eventLog.js';
import type { SqliteEventLog, SqliteEventLogOptions } from '../persistence/eventLog.js';
import type { LoggedEvent } from '../persistence/types.js';
import { storedSeqs } from './support/storedEvents.js';

const dir = fs.mkdtempSync(os.tmpdir() + '/ag-');
let fileCounter = 0;
const openLogs: SqliteEventLog[] = [];

/** Flushes only when the test says so: `runScheduled()` plays the event-loop turn. */
function manualScheduler() {
  const queued: Array<() => void> = [];
  return {
    scheduleFlush: (fn: () => void) => void queued.push(fn),
    scheduledCount: () => queued.length,
    runScheduled: () => {
      for (const fn of queued.splice(0)) fn();
    },
  };
}

interface Harness {
  file: string;
  database: GatewayDatabase;
  log: SqliteEventLog;
  scheduler: ReturnType<typeof manualScheduler>;
  storedSeqs(sessionId: string): number[];
}

function openLog(options: Partial<SqliteEventLogOptions> = {}, file?: string): Harness {
  const target = file ?? path.join(dir, `log-${++fileCounter}.sqlite`);
  const database = openDatabase(target);
  const scheduler = manualScheduler();
  const log = createSqliteEventLog(database, {
    maxEventsPerSession: 5000,
    maxBytesPerSession: 16 * 1024 * 1024,
    tailEvents: 1000,
    batchMaxEvents: 1000,
    scheduleFlush: scheduler.scheduleFlush,
    retryDelayMs: 0,
    ...options,
  });
  openLogs.push(log);
  return { file: target, database, log, scheduler, storedSeqs: (sessionId: string) => storedSeqs(database.sqlite, sessionId) };
}

function event(sessionId: string, seq: number, json = `{"kind":"text","seq":${seq}}`): LoggedEvent {
  return { sessionId, seq, runId: 'run-1', kind: 'text', json, at: 1_700_000_000_000 + seq };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

const seqsOf = (events: LoggedEvent[]) => events.map((e) => e.seq);

test('appends are batched: one flush scheduled per turn, written in one go', () => {
  const { log, scheduler, storedSeqs } = openLog();
  for (let seq = 1; seq <= 5; seq++) log.append(event('s', seq));
  assert.is(scheduler.scheduledCount(), 1);
  assert.equal(storedSeqs('s'), []);
  assert.is(log.health().pendingEvents, 5);
  scheduler.runScheduled();
  assert.equal(storedSeqs('s'), range(1, 5));
  assert.is(log.health().pendingEvents, 0);
  log.append(event('s', 6));
  assert.is(scheduler.scheduledCount(), 1, 'a new turn schedules a new flush');
});

test('a full batch is written synchronously', () => {
  const { log, storedSeqs } = openLog({ batchMaxEvents: 4 });
  for (let seq = 1; seq <= 3; seq++) log.append(event('s', seq));
  assert.equal(storedSeqs('s'), []);
  log.append(event('s', 4));
  assert.equal(storedSeqs('s'), range(1, 4));
});

test('whenWritten: at once with nothing unwritten; otherwise after the write that covers every event so far', () => {
  const { log, scheduler, storedSeqs } = openLog();
  const calls: number[][] = [];
  log.whenWritten(() => calls.push(storedSeqs('s1')));
  assert.equal(calls, [[]], 'nothing waiting: called back at once');
  log.append(event('s1', 1));
  log.whenWritten(() => calls.push(storedSeqs('s1')));
  log.append(event('s1', 2));
  log.whenWritten(() => calls.push(storedSeqs('s1')));
  assert.is(calls.length, 1, 'waiting for the write');
  scheduler.runScheduled();
  assert.equal(calls, [[], [1, 2], [1, 2]]);
});

test('whenWritten: a full batch written synchronously releases its waiters; close releases the rest', () => {
  const { log } = openLog({ batchMaxEvents: 2 });
  let released = 0;
  log.append(event('s1', 1));
  log.whenWritten(() => released++);
  log.append(event('s1', 2));
  assert.is(released, 1, 'the synchronous write of the full batch');
  log.append(event('s1', 3));
  log.whenWritten(() => released++);
  log.close();
  assert.is(released, 2);
});

test('read includes unflushed events, and stored ones come back identical', () => {
  const { log, storedSeqs } = openLog({ tailEvents: 0 });
  log.append(event('s', 1, '{"a":"é"}'));
  log.append(event('s', 2));
  assert.equal(storedSeqs('s'), []);
  assert.equal(log.read('s', 0, 10), [event('s', 1, '{"a":"é"}'), event('s', 2)]);
  log.flush();
  assert.equal(storedSeqs('s'), [1, 2]);
  // tailEvents 0: these now come from SQLite.
  assert.equal(log.read('s', 0, 10), [event('s', 1, '{"a":"é"}'), event('s', 2)]);
});

test('reads across the tail/SQLite boundary have no gap and no duplicate, for every cursor and limit', () => {
  const { log, scheduler } = openLog({ tailEvents: 7, batchMaxEvents: 1000 });
  const readsEverythingOnce = (latest: number, stage: string) => {
    for (const limit of [1, 3, 7, 13, 100]) {
      for (let after = 0; after <= latest; after++) {
        const got = seqsOf(log.read('s', after, limit));
        const expected = range(after + 1, latest).slice(0, limit);
        assert.equal(got, expected, `${stage}: after ${after} limit ${limit}`);
      }
    }
  };
  for (let seq = 1; seq <= 30; seq++) log.append(event('s', seq));
  scheduler.runScheduled();
  readsEverythingOnce(30, 'stored 1..30, tail holds stored 24..30');
  for (let seq = 31; seq <= 33; seq++) log.append(event('s', seq));
  readsEverythingOnce(33, 'tail holds stored 27..30 and unflushed 31..33');
  for (let seq = 34; seq <= 42; seq++) log.append(event('s', seq));
  readsEverythingOnce(42, 'tail holds only the 12 unflushed 31..42, more than its size');
  // Paging through with the last seq as cursor sees every event once.
  const paged: number[] = [];
  for (let cursor = 0, page = log.read('s', cursor, 5); page.length > 0; page = log.read('s', cursor, 5)) {
    paged.push(...seqsOf(page));
    cursor = page[page.length - 1].seq;
  }
  assert.equal(paged, range(1, 42));
  assert.equal(log.read('s', 0, 0), []);
  assert.equal(log.read('s', 42, 10), []);
  assert.equal(log.read('other', 0, 10), []);
});

test('sessions are independent', () => {
  const { log } = openLog({ tailEvents: 2 });
  for (let seq = 1; seq <= 5; seq++) {
    log.append(event('a', seq));
    log.append(event('b', seq * 10));
  }
  log.flush();
  assert.equal(seqsOf(log.read('a', 0, 100)), range(1, 5));
  assert.equal(seqsOf(log.read('b', 0, 100)), [10, 20, 30, 40, 50]);
  assert.is(log.latestSeq('a'), 5);
  assert.is(log.latestSeq('b'), 50);
  assert.is(log.oldestSeq('b'), 10);
});

test('seq must strictly increase per session (a programming error throws)', () => {
  const { log } = openLog();
  log.append(event('s', 3));
  assert.throws(() => log.append(event('s', 3)), RangeError);
  assert.throws(() => log.append(event('s', 2)), RangeError);
  assert.throws(() => log.append(event('s', 4.5)), RangeError);
  log.append(event('s', 7)); // gaps are allowed, only order matters
  assert.is(log.latestSeq('s'), 7);
  assert.equal(seqsOf(log.read('s', 0, 10)), [3, 7]);
});

test('pruning by entries keeps the newest maxEventsPerSession, in SQLite and in the tail', () => {
  const { log, storedSeqs } = openLog({ maxEventsPerSession: 10, tailEvents: 100, batchMaxEvents: 4 });
  for (let seq = 1; seq <= 25; seq++) log.append(event('s', seq));
  log.flush();
  assert.equal(storedSeqs('s'), range(16, 25));
  assert.is(log.oldestSeq('s'), 16);
  assert.is(log.latestSeq('s'), 25);
  assert.equal(seqsOf(log.read('s', 0, 100)), range(16, 25), 'pruned events left the tail too');
  assert.equal(seqsOf(log.read('s', 3, 2)), [16, 17]);
});

test('pruning by bytes counts UTF-8 bytes and always keeps the newest event', () => {
  const { log, storedSeqs } = openLog({ maxBytesPerSession: 350, tailEvents: 100 });
  const hundredBytes = (seq: number) => JSON.stringify({ seq, pad: 'x'.repeat(100 - 19) });
  assert.is(Buffer.byteLength(hundredBytes(10)), 100);
  for (let seq = 10; seq <= 16; seq++) log.append(event('s', seq, hundredBytes(seq)));
  log.flush();
  assert.equal(storedSeqs('s'), [14, 15, 16]);
  assert.is(log.oldestSeq('s'), 14);

  // 'é' is one UTF-16 unit but 2 bytes: this is 118 characters and 218 bytes, so it fits with
  // one 100-byte event (318) but not two (418), whereas counting characters would keep two.
  const wide = JSON.stringify({ e: 'é'.repeat(100), p: 'xxx' });
  assert.is(wide.length, 118);
  assert.is(Buffer.byteLength(wide), 218);
  log.append(event('s', 17, wide));
  log.flush();
  assert.equal(storedSeqs('s'), [16, 17]);

  const huge = 'y'.repeat(1000);
  log.append(event('s', 18, JSON.stringify(huge)));
  log.flush();
  assert.equal(storedSeqs('s'), [18], 'an event bigger than the bound is still kept');
  assert.is(log.oldestSeq('s'), 18);
  assert.equal(seqsOf(log.read('s', 0, 10)), [18]);
});

test('byte stats loaded from SQLite after a restart count UTF-8 bytes too', () => {
  const wide = JSON.stringify({ e: 'é'.repeat(100), p: 'xxx' }); // 118 characters, 218 bytes
  const narrow = (seq: number) => JSON.stringify({ seq, pad: 'x'.repeat(100 - 19) }); // 100 bytes
  const first = openLog({ maxBytesPerSession: 350 });
  first.log.append(event('s', 1, wide));
  first.log.append(event('s', 2, narrow(2)));
  first.log.close();
  const second = openLog({ maxBytesPerSession: 350 }, first.file);
  second.log.append(event('s', 3, narrow(3))); // 418 bytes now (318 if characters were counted)
  second.log.flush();
  assert.equal(second.storedSeqs('s'), [2, 3]);
  assert.is(second.log.oldestSeq('s'), 2);
});

test('restart: latestSeq, oldestSeq, stats and reads survive close + reopen', () => {
  const first = openLog({ maxEventsPerSession: 10, tailEvents: 3 });
  for (let seq = 1; seq <= 25; seq++) first.log.append(event('s', seq));
  first.log.close(); // flushes
  assert.is(first.database.sqlite.open, false);

  const second = openLog({ maxEventsPerSession: 10, tailEvents: 3 }, first.file);
  assert.is(second.log.latestSeq('s'), 25);
  assert.is(second.log.oldestSeq('s'), 16);
  assert.equal(seqsOf(second.log.read('s', 0, 100)), range(16, 25));
  assert.throws(() => second.log.append(event('s', 25)), RangeError);

  // Lazily loaded stats keep pruning exact after the restart.
  for (let seq = 26; seq <= 30; seq++) second.log.append(event('s', seq));
  second.log.flush();
  assert.equal(second.storedSeqs('s'), range(21, 30));
  assert.is(second.log.oldestSeq('s'), 21);
  assert.equal(seqsOf(second.log.read('s', 20, 100)), range(21, 30));
  assert.equal(seqsOf(second.log.read('s', 0, 4)), range(21, 24));
});

test('latestSeq never goes backwards through pruning by bytes', () => {
  const { log } = openLog({ maxBytesPerSession: 1, tailEvents: 0 });
  for (let seq = 1; seq <= 5; seq++) log.append(event('s', seq));
  log.flush();
  assert.is(log.latestSeq('s'), 5);
  assert.is(log.oldestSeq('s'), 5);
  assert.equal(seqsOf(log.read('s', 0, 10)), [5]);
});

test('runs: unfinished ones survive a restart; completed ones are stored with their result', () => {
  const first = openLog();
  first.log.runStarted({ runId: 'r1', sessionId: 's', provider: 'claude', startedAt: 100 });
  first.log.runStarted({ runId: 'r2', sessionId: 's', provider: 'codex', startedAt: 200 });
  first.log.runStarted({ runId: 'r3', sessionId: 't', provider: 'claude', startedAt: 300 });
  first.log.runCompleted('r1', { exitCode: 0, aborted: false, completedAt: 150 });
  first.log.runCompleted('r3', { exitCode: 1, aborted: true, completedAt: 350 });
  first.log.close();

  const second = openLog({}, first.file);
  assert.equal(second.log.unfinishedRuns(), [{ runId: 'r2', sessionId: 's', provider: 'codex', startedAt: 200 }]);
  const rows = second.database.sqlite
    .prepare('SELECT run_id, status, completed_at, exit_code, aborted FROM runs ORDER BY run_id')
    .all();
  assert.equal(rows, [
    { run_id: 'r1', status: 'completed', completed_at: 150, exit_code: 0, aborted: 0 },
    { run_id: 'r2', status: 'running', completed_at: null, exit_code: null, aborted: 0 },
    { run_id: 'r3', status: 'completed', completed_at: 350, exit_code: 1, aborted: 1 },
  ]);
  second.log.runCompleted('r2', { exitCode: 1, aborted: false, completedAt: 999 });
  assert.equal(second.log.unfinishedRuns(), []);
});

test('release forgets a flushed session but keeps one with unwritten events', () => {
  const { log } = openLog({ tailEvents: 5 });
  for (let seq = 1; seq <= 8; seq++) log.append(event('s', seq));
  assert.is(log.release('s'), false);
  assert.equal(seqsOf(log.read('s', 0, 100)), range(1, 8));
  log.flush();
  assert.is(log.release('s'), true);
  assert.is(log.release('never-seen'), true);
  assert.is(log.latestSeq('s'), 8);
  assert.equal(seqsOf(log.read('s', 2, 100)), range(3, 8));
  log.append(event('s', 9));
  assert.equal(seqsOf(log.read('s', 6, 100)), [7, 8, 9]);
});

test('close flushes what is pending; appending after close throws', () => {
  const { log, file } = openLog();
  log.append(event('s', 1));
  log.runStarted({ runId: 'r', sessionId: 's', provider: 'claude', startedAt: 1 });
  log.close();
  log.close(); // idempotent
  assert.throws(() => log.append(event('s', 2)), /closed/);
  const reopened = openLog({}, file);
  assert.equal(reopened.storedSeqs('s'), [1]);
});

test('options are validated', () => {
  const database = openDatabase(':memory:');
  const base = { maxEventsPerSession: 10, maxBytesPerSession: 10, tailEvents: 10, batchMaxEvents: 10 };
  assert.throws(() => createSqliteEventLog(database, { ...base, maxEventsPerSession: 0 }), TypeError);
  assert.throws(() => createSqliteEventLog(database, { ...base, batchMaxEvents: 0 }), TypeError);
  assert.throws(() => createSqliteEventLog(database, { ...base, tailEvents: -1 }), TypeError);
  assert.throws(() => createSqliteEventLog(database, { ...base, maxBytesPerSession: Number.NaN }), TypeError);
  database.close();
});

test.after(() => {
  for (const log of openLogs) log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
