/**
 * `forgetSession` on the SQLite event log, on real files: the session's events, seq mark and runs
 * leave the database; its tail, unwritten events and seq counter leave memory; other sessions
 * are untouched; and while the database fails the deletion waits, in order, for the next write,
 * so the re-used id's new events never collide with the old rows.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../persistence/database.js';
import type { GatewayDatabase } from '../persistence/database.js';
import { createSqliteEventLog, ForgetBacklogError, MAX_QUEUED_FORGETS } from '../persistence/eventLog.js';
import type { SqliteEventLog, SqliteEventLogOptions } from '../persistence/eventLog.js';
import type { LoggedEvent } from '../persistence/types.js';
import { storedSeqs } from './support/storedEvents.js';

const dir = fs.mkdtempSync(os.tmpdir() + '/ag-');
let fileCounter = 0;
const openLogs: SqliteEventLog[] = [];

function openLog(options: Partial<SqliteEventLogOptions> = {}, file?: string) {
  const target = file ?? path.join(dir, `forget-${++fileCounter}.sqlite`);
  const database = openDatabase(target);
  const scheduled: Array<() => void> = [];
  const log = createSqliteEventLog(database, {
    maxEventsPerSession: 5000,
    maxBytesPerSession: 16 * 1024 * 1024,
    tailEvents: 4,
    batchMaxEvents: 1000,
    scheduleFlush: (flush) => void scheduled.push(flush),
    retryDelayMs: 0,
    logger: { warn: () => {}, error: () => {} },
    ...options,
  });
  openLogs.push(log);
  const count = (table: string, sessionId: string) =>
    database.sqlite.prepare(`SELECT count(*) FROM ${table} WHERE session_id = ?`).pluck().get(sessionId) as number;
  const seqsStored = (sessionId: string) => storedSeqs(database.sqlite, sessionId);
  const runTurn = () => {
    for (const flush of scheduled.splice(0)) flush();
  };
  return { file: target, database, log, count, storedSeqs: seqsStored, runTurn };
}

function event(sessionId: string, seq: number): LoggedEvent {
  return { sessionId, seq, runId: `run-${sessionId}`, kind: 'text', json: `{"seq":${seq}}`, at: seq };
}
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
const seqsOf = (events: LoggedEvent[]) => events.map((e) => e.seq);

/** Every delete of chat events fails, as a read-only table would. */
function failDeletes(database: GatewayDatabase): void {
  database.sqlite.exec(`
    CREATE TRIGGER fail_delete BEFORE DELETE ON chat_event_chunks
    BEGIN SELECT RAISE(ABORT, 'simulated read-only table'); END;
  `);
}
function allowDeletes(database: GatewayDatabase): void {
  database.sqlite.exec('DROP TRIGGER fail_delete');
}

/** Stored events, a seq mark (its dropped events were never written) and runs: everything goes. */
function fillSession(h: ReturnType<typeof openLog>, sessionId: string, upTo: number): void {
  for (let seq = 1; seq <= upTo; seq++) h.log.append(event(sessionId, seq));
  h.log.runStarted({ runId: `${sessionId}-r1`, sessionId, provider: 'claude', startedAt: 1 });
  h.log.runCompleted(`${sessionId}-r1`, { exitCode: 0, aborted: false, completedAt: 2 });
  h.log.runStarted({ runId: `${sessionId}-r2`, sessionId, provider: 'claude', startedAt: 3 });
  h.log.flush();
  h.database.sqlite.prepare('INSERT OR REPLACE INTO chat_seq_marks (session_id, latest_seq) VALUES (?, ?)').run(sessionId, upTo + 5);
}

test('forgets a stored session in the database and in memory; others are untouched', () => {
  const h = openLog();
  fillSession(h, 'gone', 10);
  fillSession(h, 'kept', 6);
  h.log.forgetSession('gone');
  for (const table of ['chat_event_chunks', 'chat_seq_marks', 'runs']) assert.is(h.count(table, 'gone'), 0, table);
  assert.is(h.log.latestSeq('gone'), 0);
  assert.is(h.log.oldestSeq('gone'), 0);
  assert.equal(h.log.read('gone', 0, 100), []);
  assert.equal(h.log.unfinishedRuns().map((run) => run.runId), ['kept-r2']);

  assert.equal(h.storedSeqs('kept'), range(1, 6));
  assert.is(h.count('chat_seq_marks', 'kept'), 1);
  assert.equal(seqsOf(h.log.read('kept', 0, 100)), range(1, 6));

  // The id can be used again from seq 1.
  h.log.append(event('gone', 1));
  h.log.flush();
  assert.equal(h.storedSeqs('gone'), [1]);
  assert.is(h.log.latestSeq('gone'), 1);
  h.log.forgetSession('never-seen'); // nothing to do, no throw
  assert.is(h.log.health().degraded, false);
});

test('unwritten events of the session are dropped, not written; waiters for them are released', () => {
  const h = openLog();
  for (let seq = 1; seq <= 3; seq++) h.log.append(event('s', seq));
  h.log.flush();
  for (let seq = 4; seq <= 9; seq++) h.log.append(event('s', seq));
  h.log.append(event('other', 1));
  let released = 0;
  h.log.whenWritten(() => released++);
  h.log.forgetSession('s');
  assert.is(released, 0, "'other' still has an unwritten event");
  assert.is(h.log.health().pendingEvents, 1);
  h.log.forgetSession('other');
  assert.is(released, 1, 'nothing is left to write');
  assert.is(h.log.health().pendingEvents, 0);
  h.runTurn();
  assert.equal(h.storedSeqs('s'), []);
  assert.equal(h.storedSeqs('other'), []);
  assert.is(h.log.latestSeq('s'), 0);
  assert.is(h.log.release('s'), true);
});

test('forgotten state survives a restart: the old rows do not come back', () => {
  const first = openLog();
  fillSession(first, 's', 5);
  first.log.forgetSession('s');
  first.log.close();
  const second = openLog({}, first.file);
  assert.is(second.log.latestSeq('s'), 0);
  assert.equal(second.log.read('s', 0, 10), []);
  assert.equal(second.log.unfinishedRuns(), []);
});

test('while deletes fail: latestSeq answers 0 at once, new events wait behind the deletion, nothing collides', () => {
  const h = openLog();
  fillSession(h, 's', 8);
  failDeletes(h.database);
  h.log.forgetSession('s'); // the delete fails: queued, the log turns degraded
  assert.is(h.log.health().degraded, true);
  assert.equal(h.storedSeqs('s'), range(1, 8), 'still on disk');
  assert.is(h.log.latestSeq('s'), 0, 'though the old rows are still readable');
  assert.equal(h.log.read('s', 0, 100), []);

  // The re-used id starts again at 1; its events and a new run queue behind the deletion.
  for (let seq = 1; seq <= 3; seq++) h.log.append(event('s', seq));
  h.log.runStarted({ runId: 's-new', sessionId: 's', provider: 'claude', startedAt: 9 });
  assert.equal(seqsOf(h.log.read('s', 0, 100)), [1, 2, 3]);
  h.log.flush();
  assert.is(h.log.health().degraded, true, 'the batch replays the failing delete first');

  allowDeletes(h.database);
  h.log.flush();
  assert.is(h.log.health().degraded, false);
  assert.equal(h.storedSeqs('s'), [1, 2, 3]);
  assert.is(h.count('chat_seq_marks', 's'), 0);
  assert.equal(h.log.unfinishedRuns().map((run) => run.runId), ['s-new']);
  assert.is(h.log.latestSeq('s'), 3);
  h.log.release('s');
  assert.is(h.log.latestSeq('s'), 3, 'reloaded from the database');
});

test('with the connection closed underneath: nothing throws, the session is gone from memory', () => {
  const h = openLog();
  fillSession(h, 's', 4);
  h.database.sqlite.close();
  h.log.forgetSession('s');
  assert.is(h.log.latestSeq('s'), 0);
  h.log.append(event('s', 1));
  assert.equal(seqsOf(h.log.read('s', 0, 10)), [1]);
  assert.is(h.log.health().degraded, true);
});

test('deletions waiting for a failing database are bounded: past the bound, refused and nothing changes', () => {
  const h = openLog();
  h.log.append(event('s', 1));
  h.log.append(event('s', 2));
  h.log.append(event('blocker', 1));
  h.log.flush();
  failDeletes(h.database);
  h.log.forgetSession('blocker'); // its rows cannot be deleted: queued, and the rest queue behind it
  for (let i = 1; i < MAX_QUEUED_FORGETS; i++) h.log.forgetSession(`other-${i}`);
  let caught: unknown;
  try {
    h.log.forgetSession('s');
  } catch (error) {
    caught = error;
  }
  assert.instance(caught, ForgetBacklogError);
  assert.is((caught as ForgetBacklogError).code, 'FORGET_BACKLOG_FULL');
  assert.is(h.log.latestSeq('s'), 2, 'not forgotten');
  assert.equal(h.storedSeqs('blocker'), [1]);
  allowDeletes(h.database);
  h.log.flush();
  assert.is(h.log.health().degraded, false);
  assert.equal(h.storedSeqs('blocker'), []);
  h.log.forgetSession('s');
  assert.is(h.log.latestSeq('s'), 0);
  assert.equal(h.storedSeqs('s'), []);
});

test('forgetSession after close throws like append', () => {
  const h = openLog();
  h.log.close();
  assert.throws(() => h.log.forgetSession('s'), /closed/);
});

test.after(() => {
  for (const log of openLogs) log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
