/**
 * The chat log's checkpoints run on a thread of their own (persistence/walCheckpointer.ts): on a
 * real SQLite file, the main connection never checkpoints while the thread copies the WAL into the
 * main file; if the thread dies, SQLite's own auto-checkpoint comes back on the main connection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../persistence/database.js';
import { WAL_CHECKPOINT_INTERVAL_MS } from '../persistence/walCheckpointer.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One commit per seq, each a one-event chunk of ~2 KB. */
function insertRows(sqlite: ReturnType<typeof openDatabase>['sqlite'], from: number, count: number): void {
  const insert = sqlite.prepare(
    'INSERT INTO chat_event_chunks (session_id, first_seq, last_seq, count, bytes, idx, json) VALUES (?, ?, ?, 1, ?, ?, ?)',
  );
  const json = 'x'.repeat(2000);
  const bytes = Buffer.byteLength(json, 'utf8');
  for (let i = from; i < from + count; i++) {
    const idx = JSON.stringify({ k: [['text', 1]], r: [['r', 1]], a: [[i, 1]] });
    sqlite.transaction(() => insert.run('s', i, i, bytes, idx, json))();
  }
}

/** WAL frames not yet copied into the main file, as a PASSIVE checkpoint of the main connection sees them. */
function uncopied(sqlite: ReturnType<typeof openDatabase>['sqlite']): number {
  const [row] = sqlite.pragma('wal_checkpoint(PASSIVE)') as Array<{ log: number; checkpointed: number }>;
  return row.log - row.checkpointed;
}

test('the thread copies the WAL; the main connection has auto-checkpoint off', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-wal-'));
  const database = openDatabase(join(dir, 'log.sqlite'), { checkpoints: 'worker' });
  try {
    assert.is(database.sqlite.pragma('wal_autocheckpoint', { simple: true }), 0, 'no checkpoint on the event loop');
    // 2 000 commits of ~2 KB: SQLite's default would have checkpointed on the main connection.
    insertRows(database.sqlite, 1, 2000);
    const [before] = database.sqlite.pragma('wal_checkpoint(NOOP)') as Array<{ log: number }>;
    assert.ok(before.log > 1000, `the WAL holds the writes (${before.log} frames)`);
    await sleep(WAL_CHECKPOINT_INTERVAL_MS * 4);
    // The thread has copied everything (a NOOP-free check: a passive checkpoint here finds nothing left).
    assert.is(uncopied(database.sqlite), 0, 'every WAL frame is in the main file already');
    // After a full copy the writer starts the WAL over: it does not keep growing.
    insertRows(database.sqlite, 2001, 10);
    const [after] = database.sqlite.pragma('wal_checkpoint(NOOP)') as Array<{ log: number }>;
    assert.ok(after.log < before.log, `the WAL was restarted (${after.log} < ${before.log} frames)`);
  } finally {
    database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('closed() resolves once the thread is gone: the directory can be removed at once', async () => {
  for (let round = 0; round < 5; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'ag-wal-'));
    const database = openDatabase(join(dir, 'log.sqlite'), { checkpoints: 'worker' });
    insertRows(database.sqlite, 1, 200);
    database.close();
    await database.closed();
    // Before, the thread's last checkpoint could still be writing here (ENOTEMPTY).
    rmSync(dir, { recursive: true });
  }
});

test('the default connection keeps SQLite\'s own auto-checkpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-wal-'));
  const database = openDatabase(join(dir, 'store.sqlite'));
  try {
    assert.ok((database.sqlite.pragma('wal_autocheckpoint', { simple: true }) as number) > 0);
  } finally {
    database.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an in-memory database starts no thread', () => {
  const database = openDatabase(':memory:', { checkpoints: 'worker' });
  assert.ok((database.sqlite.pragma('wal_autocheckpoint', { simple: true }) as number) > 0);
  database.close();
});

test.run();
