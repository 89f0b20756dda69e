/**
 * The chat event log when the database fails: a real SQLITE_FULL (the file is capped with
 * `PRAGMA max_page_count`), triggers that RAISE, and a connection closed underneath the log.
 * Nothing may throw out of append/flush; events stay readable and are written once writes work.
 * (chmod 0444 is not used: the suite may run as root, which ignores file modes.)
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

interface LogLine {
  level: 'warn' | 'error';
  message: string;
  fields?: Record<string, unknown>;
}

function openLog(options: Partial<SqliteEventLogOptions> = {}, file?: string) {
  const target = file ?? path.join(dir, `fail-${++fileCounter}.sqlite`);
  const database = openDatabase(target);
  const lines: LogLine[] = [];
  const log = createSqliteEventLog(database, {
    maxEventsPerSession: 5000,
    maxBytesPerSession: 16 * 1024 * 1024,
    tailEvents: 1000,
    batchMaxEvents: 1000,
    scheduleFlush: () => {},
    retryDelayMs: 0,
    logger: {
      warn: (message, fields) => void lines.push({ level: 'warn', message, fields }),
      error: (message, fields) => void lines.push({ level: 'error', message, fields }),
    },
    ...options,
  });
  openLogs.push(log);
  const errors = () => lines.filter((line) => line.level === 'error');
  return { file: target, database, log, lines, errors, storedSeqs: (sessionId: string) => storedSeqs(database.sqlite, sessionId) };
}

/** Caps the file at its current size: the next write that needs a page fails with SQLITE_FULL. */
function fillDisk(database: GatewayDatabase): void {
  const pages = Number(database.sqlite.pragma('page_count', { simple: true }));
  database.sqlite.pragma(`max_page_count = ${pages}`);
}
function freeDisk(database: GatewayDatabase): void {
  database.sqlite.pragma('max_page_count = 1073741823');
}

/** Every chat event insert fails, whatever its size. */
function failInserts(database: GatewayDatabase): void {
  database.sqlite.exec(`
    CREATE TRIGGER fail_insert BEFORE INSERT ON chat_event_chunks
    BEGIN SELECT RAISE(ABORT, 'simulated read-only table'); END;
  `);
}
function allowInserts(database: GatewayDatabase): void {
  database.sqlite.exec('DROP TRIGGER fail_insert');
}

function event(sessionId: string, seq: number): LoggedEvent {
  const json = JSON.stringify({ kind: 'stream_delta', seq, content: 'z'.repeat(200) });
  return { sessionId, seq, runId: 'run-1', kind: 'stream_delta', json, at: seq };
}
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
const seqsOf = (events: LoggedEvent[]) => events.map((e) => e.seq);

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('disk full: degraded without throwing, events kept and readable, logged once, then recovered', () => {
  const { database, log, lines, errors, storedSeqs } = openLog();
  log.append(event('s', 1));
  log.flush();
  fillDisk(database);

  for (let seq = 2; seq <= 200; seq++) log.append(event('s', seq));
  log.flush();
  log.flush();
  log.flush();
  const health = log.health();
  assert.is(health.degraded, true);
  assert.match(health.lastError ?? '', /full/i);
  assert.is(health.pendingEvents, 199);
  assert.is(health.droppedEvents, 0);
  assert.equal(storedSeqs('s'), [1]);
  assert.is(errors().length, 1, 'one log line per failure kind, not per flush');
  assert.is(errors()[0].fields?.code, 'SQLITE_FULL');

  // Replay still sees everything, and the sequence keeps going.
  assert.equal(seqsOf(log.read('s', 0, 1000)), range(1, 200));
  assert.is(log.latestSeq('s'), 200);
  log.append(event('s', 201));

  freeDisk(database);
  log.flush();
  assert.equal(log.health(), { degraded: false, lastError: health.lastError, pendingEvents: 0, droppedEvents: 0 });
  assert.equal(storedSeqs('s'), range(1, 201));
  assert.ok(lines.some((line) => line.level === 'warn' && /recovered/.test(line.message)));
  assert.equal(seqsOf(log.read('s', 150, 1000)), range(151, 201));
});

test('unwritten events are bounded (10 batches): the oldest are dropped and counted', () => {
  const { file, database, log, storedSeqs } = openLog({ batchMaxEvents: 5, tailEvents: 3 });
  log.append(event('s', 1));
  log.flush();
  failInserts(database);
  // Session "quiet" only has old events: all of them will be dropped.
  for (let seq = 1; seq <= 4; seq++) log.append(event('quiet', seq));
  for (let seq = 2; seq <= 101; seq++) log.append(event('s', seq));
  const health = log.health();
  assert.is(health.degraded, true);
  assert.is(health.pendingEvents, 50);
  assert.is(health.droppedEvents, 54);
  assert.equal(seqsOf(log.read('s', 0, 1000)).slice(-50), range(52, 101));

  allowInserts(database);
  log.flush();
  assert.is(log.health().degraded, false);
  assert.is(log.health().droppedEvents, 54);
  assert.equal(storedSeqs('s'), [1, ...range(52, 101)]);
  assert.equal(storedSeqs('quiet'), []);
  assert.is(log.latestSeq('quiet'), 4);
  log.close();

  // The seq high-water mark of a session whose events were all dropped survives a restart.
  const reopened = openLog({}, file);
  assert.is(reopened.log.latestSeq('quiet'), 4);
  assert.is(reopened.log.oldestSeq('quiet'), 0);
  assert.is(reopened.log.latestSeq('s'), 101);
  assert.throws(() => reopened.log.append(event('quiet', 4)), RangeError);
});

test('while degraded a full batch does not retry per append; flush() and appends keep working', () => {
  const { database, log, storedSeqs } = openLog({ batchMaxEvents: 2 });
  let attempts = 0;
  database.sqlite.function('count_attempt', () => {
    attempts++;
    return null;
  });
  database.sqlite.exec(`
    CREATE TRIGGER fail_insert BEFORE INSERT ON chat_event_chunks
    BEGIN SELECT count_attempt(); SELECT RAISE(ABORT, 'simulated read-only table'); END;
  `);
  log.append(event('s', 1));
  log.append(event('s', 2)); // full batch: flushes, fails
  assert.is(attempts, 1);
  assert.is(log.health().degraded, true);
  for (let seq = 3; seq <= 12; seq++) log.append(event('s', seq));
  assert.is(attempts, 1, 'no synchronous retries while degraded');
  database.sqlite.exec('DROP TRIGGER fail_insert');
  log.flush();
  assert.is(log.health().degraded, false);
  assert.equal(storedSeqs('s'), range(1, 12));
});

test('distinct failure kinds are each logged once', () => {
  const { database, log, errors } = openLog();
  failInserts(database);
  for (let seq = 1; seq <= 3; seq++) {
    log.append(event('s', seq));
    log.flush();
  }
  allowInserts(database);
  fillDisk(database);
  for (let seq = 4; seq <= 200; seq++) log.append(event('s', seq));
  log.flush();
  log.flush();
  assert.equal(
    errors().map((line) => line.fields?.code),
    ['SQLITE_CONSTRAINT_TRIGGER', 'SQLITE_FULL'],
  );
  freeDisk(database);
  log.flush();
  assert.is(log.health().degraded, false);
});

test('run writes that fail are retried in order with the next flush', () => {
  const { database, log } = openLog();
  database.sqlite.exec(`
    CREATE TRIGGER fail_run_insert BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'runs unavailable'); END;
  `);
  log.runStarted({ runId: 'r1', sessionId: 's', provider: 'claude', startedAt: 10 });
  assert.is(log.health().degraded, true);
  // Would succeed on its own (an UPDATE of no row), but must wait behind the queued insert.
  log.runCompleted('r1', { exitCode: 0, aborted: false, completedAt: 20 });
  log.runStarted({ runId: 'r2', sessionId: 's', provider: 'claude', startedAt: 30 });
  assert.equal(log.unfinishedRuns(), []);
  database.sqlite.exec('DROP TRIGGER fail_run_insert');
  log.flush();
  assert.is(log.health().degraded, false);
  assert.equal(log.unfinishedRuns(), [{ runId: 'r2', sessionId: 's', provider: 'claude', startedAt: 30 }]);
  const r1 = database.sqlite.prepare("SELECT status, exit_code FROM runs WHERE run_id = 'r1'").get();
  assert.equal(r1, { status: 'completed', exit_code: 0 });
});

test('a failed write is retried on a timer even if nothing else flushes', async () => {
  const { database, log, storedSeqs } = openLog({ retryDelayMs: 10 });
  fillDisk(database);
  for (let seq = 1; seq <= 200; seq++) log.append(event('s', seq));
  log.flush();
  assert.is(log.health().degraded, true);
  freeDisk(database);
  await waitFor(() => !log.health().degraded, 'the timed retry to succeed');
  assert.equal(storedSeqs('s'), range(1, 200));
});

test('an unreadable table: latestSeq of a new session is retried, an idle flush clears degraded', () => {
  const { file, log } = openLog();
  log.append(event('s', 1));
  log.append(event('s', 2));
  log.close();
  const second = openLog({}, file);
  second.database.sqlite.exec('ALTER TABLE chat_event_chunks RENAME TO chat_event_chunks_away');
  assert.is(second.log.latestSeq('s'), 0, 'unknowable while the table is gone');
  assert.is(second.log.health().degraded, true);
  assert.throws(() => second.log.read('s', 0, 10), /no such table/, 'a read never hides a gap');
  second.database.sqlite.exec('ALTER TABLE chat_event_chunks_away RENAME TO chat_event_chunks');
  assert.is(second.log.latestSeq('s'), 2, 'loaded once the table is back');
  assert.is(second.log.health().pendingEvents, 0);
  second.log.flush();
  assert.is(second.log.health().degraded, false);
  assert.equal(seqsOf(second.log.read('s', 0, 10)), [1, 2]);
});

test('a malformed event is refused at append instead of poisoning the batch', () => {
  const { log, storedSeqs } = openLog();
  const bad = { ...event('s', 1), runId: undefined } as unknown as LoggedEvent;
  assert.throws(() => log.append(bad), TypeError);
  log.append(event('s', 1));
  log.flush();
  assert.equal(storedSeqs('s'), [1]);
  assert.is(log.health().degraded, false);
});

test('a connection closed underneath: nothing throws, the state is reported, the tail still serves', () => {
  const { database, log, errors } = openLog({ batchMaxEvents: 3 });
  log.append(event('s', 1));
  log.flush();
  database.sqlite.close();

  for (let seq = 2; seq <= 6; seq++) log.append(event('s', seq));
  log.append(event('new-session', 1)); // its stats cannot even be loaded
  log.flush();
  log.runStarted({ runId: 'r', sessionId: 's', provider: 'claude', startedAt: 1 });
  log.runCompleted('r', { exitCode: 0, aborted: false, completedAt: 2 });
  const health = log.health();
  assert.is(health.degraded, true);
  assert.match(health.lastError ?? '', /not open/);
  assert.is(health.pendingEvents, 6);
  assert.equal(seqsOf(log.read('s', 0, 100)), range(1, 6));
  assert.equal(seqsOf(log.read('new-session', 0, 100)), [1]);
  assert.is(log.latestSeq('s'), 6);
  assert.is(errors().length, 1, "one distinct failure, logged once");
  log.close();
  assert.ok(errors().some((line) => /closed with unwritten/.test(line.message)));
});

test.after(() => {
  for (const log of openLogs) log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
