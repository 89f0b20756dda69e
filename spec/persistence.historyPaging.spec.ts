/**
 * History paging through `read(sessionId, afterSeq, limit)` as the REST history route uses it
 * (ask for limit + 1 to learn whether more follows, continue after the last seq): across the
 * in-memory tail and SQLite, after a restart (empty tail), with unwritten events, after pruning,
 * after `release`, and while writes fail. Every read is checked against the seqs that must be
 * retained, for every cursor and several limits that cross the tail/SQLite boundary.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../persistence/database.js';
import { createSqliteEventLog } from '../persistence/eventLog.js';
import type { SqliteEventLog, SqliteEventLogOptions } from '../persistence/eventLog.js';
import type { LoggedEvent } from '../persistence/types.js';

const dir = fs.mkdtempSync(os.tmpdir() + '/ag-');
let fileCounter = 0;
const openLogs: SqliteEventLog[] = [];

function openLog(options: Partial<SqliteEventLogOptions> = {}, file?: string) {
  const target = file ?? path.join(dir, `paging-${++fileCounter}.sqlite`);
  const database = openDatabase(target);
  const log = createSqliteEventLog(database, {
    maxEventsPerSession: 30,
    maxBytesPerSession: 16 * 1024 * 1024,
    tailEvents: 6,
    batchMaxEvents: 1000,
    scheduleFlush: () => {},
    retryDelayMs: 0,
    logger: { warn: () => {}, error: () => {} },
    ...options,
  });
  openLogs.push(log);
  return { file: target, database, log };
}

function event(seq: number): LoggedEvent {
  return { sessionId: 's', seq, runId: 'r', kind: 'text', json: `{"seq":${seq}}`, at: seq };
}
function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Reads pages as the REST route does and checks each against the retained seqs. */
function checkPaging(log: SqliteEventLog, retained: number[], stage: string): void {
  const latest = retained[retained.length - 1] ?? 0;
  for (const limit of [1, 2, 5, 6, 7, 13, 50]) {
    for (let after = 0; after <= latest + 1; after++) {
      const got = log.read('s', after, limit + 1).map((e) => e.seq);
      const expected = retained.filter((seq) => seq > after).slice(0, limit + 1);
      assert.equal(got, expected, `${stage}: afterSeq ${after}, limit ${limit} + 1`);
    }
    // Following the cursor from 0 visits every retained event once, in order.
    const visited: number[] = [];
    let cursor = 0;
    for (;;) {
      const page = log.read('s', cursor, limit + 1);
      const hasMore = page.length > limit;
      const shown = hasMore ? page.slice(0, limit) : page;
      visited.push(...shown.map((e) => e.seq));
      if (!hasMore) break;
      cursor = shown[shown.length - 1].seq;
    }
    assert.equal(visited, retained, `${stage}: paged with limit ${limit}`);
  }
  assert.is(log.oldestSeq('s'), retained[0] ?? 0, `${stage}: oldestSeq`);
}

test('restart, unwritten appends, pruning, release: every page is exact', () => {
  const first = openLog();
  for (let seq = 1; seq <= 40; seq++) first.log.append(event(seq));
  first.log.flush();
  checkPaging(first.log, range(11, 40), 'pruned to 30, tail holds 35..40');
  first.log.close();

  const second = openLog({}, first.file);
  checkPaging(second.log, range(11, 40), 'after a restart: empty tail, all from SQLite');
  for (let seq = 41; seq <= 49; seq++) second.log.append(event(seq));
  checkPaging(second.log, range(11, 49), 'SQLite 11..40 below 9 unwritten in the tail (more than its size)');
  second.log.flush();
  checkPaging(second.log, range(20, 49), 'pruned again by the write; the tail is back to 6');
  assert.is(second.log.release('s'), true);
  checkPaging(second.log, range(20, 49), 'released: the tail is empty again');
});

test('while inserts fail: unwritten events page after the stored ones, and after the recovery too', () => {
  const { database, log } = openLog();
  for (let seq = 1; seq <= 12; seq++) log.append(event(seq));
  log.flush();
  database.sqlite.exec(`
    CREATE TRIGGER fail_insert BEFORE INSERT ON chat_event_chunks
    BEGIN SELECT RAISE(ABORT, 'simulated read-only table'); END;
  `);
  for (let seq = 13; seq <= 21; seq++) log.append(event(seq));
  log.flush();
  assert.is(log.health().degraded, true);
  checkPaging(log, range(1, 21), 'degraded: SQLite 1..12, tail 7..12 stored and 13..21 unwritten');
  database.sqlite.exec('DROP TRIGGER fail_insert');
  log.flush();
  assert.is(log.health().degraded, false);
  checkPaging(log, range(1, 21), 'recovered');
});

test.after(() => {
  for (const log of openLogs) log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
