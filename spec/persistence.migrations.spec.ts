/**
 * Opening the database: directories, pragmas, migrations by `user_version`, and the drizzle
 * schema agreeing with the DDL the migrations create.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Sqlite from 'better-sqlite3';
import { getTableConfig } from 'drizzle-orm/sqlite-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../persistence/database.js';
import { MIGRATIONS, migrate, SCHEMA_VERSION, SchemaVersionError } from '../persistence/migrations.js';
import { schema } from '../persistence/schema.js';

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(os.tmpdir() + '/ag-');
  tempDirs.push(dir);
  return dir;
}

test('a fresh file is created (parent directories too), in WAL mode, at the current schema version', () => {
  const file = path.join(tempDir(), 'nested', 'deeper', 'gateway.sqlite');
  const database = openDatabase(file);
  try {
    assert.ok(fs.existsSync(file));
    assert.is(database.sqlite.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.is(database.sqlite.pragma('journal_mode', { simple: true }), 'wal');
    assert.is(database.sqlite.pragma('synchronous', { simple: true }), 1); // NORMAL
    assert.ok(Number(database.sqlite.pragma('busy_timeout', { simple: true })) > 0);
    const tables = database.sqlite
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all();
    assert.equal(tables, ['chat_event_chunks', 'chat_seq_marks', 'runs', 'sessions']);
  } finally {
    database.close();
  }
});

test('opening twice keeps data and does not re-run migrations', () => {
  const file = path.join(tempDir(), 'twice.sqlite');
  const first = openDatabase(file);
  first.sqlite
    .prepare('INSERT INTO sessions (session_id, provider, created_at, updated_at) VALUES (?, ?, ?, ?)')
    .run('s1', 'claude', 1, 1);
  first.close();
  first.close(); // idempotent

  const second = openDatabase(file);
  try {
    assert.is(second.sqlite.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.is(second.sqlite.prepare('SELECT count(*) FROM sessions').pluck().get(), 1);
    assert.is(migrate(second.sqlite), SCHEMA_VERSION);
  } finally {
    second.close();
  }
});

test('a database from a newer gateway is refused with a clear error and left untouched', () => {
  const file = path.join(tempDir(), 'newer.sqlite');
  const raw = new Sqlite(file);
  raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  raw.close();
  const before = fs.readFileSync(file);

  let caught: unknown;
  try {
    openDatabase(file).close();
  } catch (error) {
    caught = error;
  }
  assert.instance(caught, SchemaVersionError);
  assert.match((caught as Error).message, `version ${SCHEMA_VERSION + 1} is newer`);

  const check = new Sqlite(file);
  assert.is(check.pragma('user_version', { simple: true }), SCHEMA_VERSION + 1);
  assert.is(check.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get(), 0);
  check.close();
  assert.ok(before.length > 0);
});

test(':memory: databases work', () => {
  const database = openDatabase(':memory:');
  try {
    assert.is(database.sqlite.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  } finally {
    database.close();
  }
});

test('the drizzle schema matches the migrated tables column for column', () => {
  const database = openDatabase(':memory:');
  try {
    for (const table of Object.values(schema)) {
      const config = getTableConfig(table);
      const info = database.sqlite.prepare(`PRAGMA table_info(${config.name})`).all() as Array<{
        name: string;
        notnull: number;
        pk: number;
      }>;
      assert.equal(
        info.map((column) => column.name).sort(),
        config.columns.map((column) => column.name).sort(),
        `columns of ${config.name}`,
      );
      for (const column of config.columns) {
        const actual = info.find((c) => c.name === column.name);
        const primary = column.primary || config.primaryKeys.some((pk) => pk.columns.includes(column));
        assert.is(actual?.notnull === 1, column.notNull || primary, `${config.name}.${column.name} not null`);
        assert.is((actual?.pk ?? 0) > 0, primary, `${config.name}.${column.name} primary key`);
      }
    }
  } finally {
    database.close();
  }
});

test('the drizzle schema declares the same indexes the migrations create', () => {
  const database = openDatabase(':memory:');
  try {
    for (const table of Object.values(schema)) {
      const config = getTableConfig(table);
      const created = database.sqlite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name")
        .pluck()
        .all(config.name);
      assert.equal(created, config.indexes.map((index) => index.config.name).sort(), `indexes of ${config.name}`);
    }
  } finally {
    database.close();
  }
});

test("migration 2: a version-1 file gets its sessions' activity from their runs and the listing index", () => {
  const file = path.join(tempDir(), 'v1.sqlite');
  const raw = new Sqlite(file);
  raw.exec(MIGRATIONS[0]);
  raw.pragma('user_version = 1');
  const insertSession = raw.prepare('INSERT INTO sessions (session_id, provider, created_at, updated_at) VALUES (?, ?, ?, ?)');
  insertSession.run('ran-later', 'claude', 10, 100);
  insertSession.run('touched-later', 'claude', 10, 500);
  insertSession.run('no-runs', 'claude', 10, 50);
  insertSession.run('running', 'claude', 10, 20);
  const insertRun = raw.prepare(
    'INSERT INTO runs (run_id, session_id, provider, status, started_at, completed_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  insertRun.run('r1', 'ran-later', 'claude', 'completed', 200, 300);
  insertRun.run('r2', 'ran-later', 'claude', 'completed', 150, 250);
  insertRun.run('r3', 'touched-later', 'claude', 'completed', 400, 450);
  insertRun.run('r4', 'running', 'claude', 'running', 700, null);
  insertRun.run('r5', 'no-such-session', 'claude', 'completed', 900, 950);
  raw.close();

  const database = openDatabase(file);
  try {
    assert.is(database.sqlite.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    const rows = database.sqlite.prepare('SELECT session_id, created_at, updated_at FROM sessions ORDER BY session_id').all();
    assert.equal(rows, [
      { session_id: 'no-runs', created_at: 10, updated_at: 50 },
      { session_id: 'ran-later', created_at: 10, updated_at: 300 },
      { session_id: 'running', created_at: 10, updated_at: 700 },
      { session_id: 'touched-later', created_at: 10, updated_at: 500 },
    ]);
    const indexes = database.sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name").pluck().all();
    assert.ok(indexes.includes('sessions_activity'));
    assert.ok(indexes.includes('runs_session'));
    assert.not.ok(indexes.includes('sessions_updated_at'));
    assert.is(database.sqlite.prepare('SELECT count(*) FROM runs').pluck().get(), 5, 'runs are kept');
  } finally {
    database.close();
  }
});

test.after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
