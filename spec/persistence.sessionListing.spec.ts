/**
 * The session store's listing and deletion for the REST routes, on real SQLite files: pages
 * newest activity first with a stable cursor (ties included), limits, refused cursors, activity
 * that follows the session's runs (written by the event log on the same file), and deletion.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../persistence/database.js';
import type { GatewayDatabase } from '../persistence/database.js';
import { createSqliteEventLog } from '../persistence/eventLog.js';
import {
  createSqliteSessionStore,
  DEFAULT_SESSION_PAGE,
  MAX_SESSION_PAGE,
  SessionCursorError,
  type SqliteSessionStore,
} from '../persistence/sessionStore.js';
import type { ListedSession } from '../persistence/types.js';

const dir = fs.mkdtempSync(os.tmpdir() + '/ag-');
let fileCounter = 0;
const opened: GatewayDatabase[] = [];
function freshDatabase(): GatewayDatabase {
  const database = openDatabase(path.join(dir, `listing-${++fileCounter}.sqlite`));
  opened.push(database);
  return database;
}
function manualClock(start: number) {
  let now = start;
  return { now: () => now, set: (at: number) => void (now = at) };
}

/** Every page from the first, following `nextBefore`; fails on a page that repeats or overflows. */
function allPages(store: SqliteSessionStore, limit: number): ListedSession[][] {
  const pages: ListedSession[][] = [];
  let before: string | null = null;
  do {
    const page = store.listSessions({ limit, before });
    assert.ok(page.sessions.length <= limit);
    pages.push(page.sessions);
    before = page.nextBefore;
    assert.ok(pages.length < 100_000, 'paging must end');
  } while (before !== null);
  return pages;
}
const ids = (sessions: ListedSession[]) => sessions.map((session) => session.sessionId);

test('pages: newest activity first, ties by id, every session exactly once whatever the page size', () => {
  const database = freshDatabase();
  const clock = manualClock(1000);
  const store = createSqliteSessionStore(database, { now: clock.now });
  // Seven sessions share one timestamp, so only the id can order them across pages.
  const created: Array<[string, number]> = [
    ['m', 3000], ['b', 2000], ['k', 2000], ['a', 2000], ['z', 2000], ['c', 2000], ['y', 2000], ['q', 2000], ['x', 1000], ['n', 5000],
  ];
  for (const [sessionId, at] of created) {
    clock.set(at);
    store.createSession({ provider: 'claude', sessionId });
  }
  const expected = ['n', 'm', 'z', 'y', 'q', 'k', 'c', 'b', 'a', 'x'];
  for (const limit of [1, 2, 3, 4, 5, 7, 9, 10, 11, 200]) {
    const pages = allPages(store, limit);
    assert.equal(pages.flatMap(ids), expected, `limit ${limit}`);
    assert.is(pages.length, Math.max(1, Math.ceil(expected.length / limit)), `limit ${limit}: no empty last page`);
  }
});

test('an entry has the record and its times; the first page of an empty store is empty and last', () => {
  const database = freshDatabase();
  const clock = manualClock(1_700_000_000_000);
  const store = createSqliteSessionStore(database, { now: clock.now });
  assert.equal(store.listSessions(), { sessions: [], nextBefore: null });
  store.createSession({ provider: 'codex', sessionId: 's1', projectPath: '/repo' });
  clock.set(1_700_000_009_000);
  store.assignProviderSessionId('s1', 'native-1');
  assert.equal(store.listSessions({ limit: 5 }), {
    sessions: [
      {
        sessionId: 's1',
        provider: 'codex',
        providerSessionId: 'native-1',
        projectPath: '/repo',
        createdAt: 1_700_000_000_000,
        updatedAt: 1_700_000_009_000,
      },
    ],
    nextBefore: null,
  });
});

test('limit: DEFAULT_SESSION_PAGE without one, clamped to MAX_SESSION_PAGE, refused when not a positive integer', () => {
  const database = freshDatabase();
  const insert = database.sqlite.prepare('INSERT INTO sessions (session_id, provider, created_at, updated_at) VALUES (?, ?, ?, ?)');
  database.sqlite.transaction(() => {
    for (let i = 0; i < MAX_SESSION_PAGE + 20; i++) insert.run(`s-${String(i).padStart(4, '0')}`, 'claude', i, i);
  })();
  const store = createSqliteSessionStore(database);
  assert.is(store.listSessions().sessions.length, DEFAULT_SESSION_PAGE);
  assert.is(store.listSessions({ limit: 10_000 }).sessions.length, MAX_SESSION_PAGE);
  assert.is(store.listSessions({ limit: 10_000 }).sessions[0].sessionId, `s-${String(MAX_SESSION_PAGE + 19).padStart(4, '0')}`);
  for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => store.listSessions({ limit }), RangeError, `limit ${limit}`);
  }
});

test('a cursor the store did not make is refused with SessionCursorError, a RangeError', () => {
  const store = createSqliteSessionStore(freshDatabase());
  store.createSession({ provider: 'claude', sessionId: 'a' });
  store.createSession({ provider: 'claude', sessionId: 'b' });
  const good = store.listSessions({ limit: 1 }).nextBefore;
  assert.type(good, 'string');
  assert.equal(ids(store.listSessions({ limit: 1, before: good }).sessions), ['a']);
  const b64 = (text: string) => Buffer.from(text).toString('base64url');
  const bad = [
    'not a cursor!',
    `${good}=`,
    b64('{"updatedAt":1}'),
    b64('[1]'),
    b64('[1.5,"a"]'),
    b64('["1","a"]'),
    b64('[1,2]'),
    b64('[1,"a",3]'),
    b64('not json'),
    `${good}A`,
  ];
  for (const before of bad) {
    let caught: unknown;
    try {
      store.listSessions({ before });
    } catch (error) {
      caught = error;
    }
    assert.instance(caught, SessionCursorError, before);
    assert.instance(caught, RangeError);
    assert.is((caught as SessionCursorError).code, 'INVALID_SESSION_CURSOR');
  }
});

test("activity follows the session's runs, written by the event log on the same file, and never goes back", () => {
  const database = freshDatabase();
  const clock = manualClock(1000);
  const store = createSqliteSessionStore(database, { now: clock.now });
  const log = createSqliteEventLog(database, {
    maxEventsPerSession: 100,
    maxBytesPerSession: 1 << 20,
    tailEvents: 10,
    batchMaxEvents: 100,
    scheduleFlush: () => {},
  });
  store.createSession({ provider: 'claude', sessionId: 'old' });
  clock.set(2000);
  store.createSession({ provider: 'claude', sessionId: 'new' });
  assert.equal(ids(store.listSessions().sessions), ['new', 'old']);

  log.runStarted({ runId: 'r1', sessionId: 'old', provider: 'claude', startedAt: 3000 });
  assert.equal(ids(store.listSessions().sessions), ['old', 'new']);
  assert.is(store.listSessions().sessions[0].updatedAt, 3000);
  log.runCompleted('r1', { exitCode: 0, aborted: false, completedAt: 4000 });
  assert.is(store.listSessions().sessions[0].updatedAt, 4000);
  assert.is(store.describeSession('old')?.session.lastActivity, new Date(4000).toISOString());

  // Earlier times (another clock, a late write) never move activity back.
  log.runStarted({ runId: 'r0', sessionId: 'old', provider: 'claude', startedAt: 500 });
  clock.set(3500);
  store.assignProviderSessionId('old', 'native');
  assert.is(store.listSessions().sessions[0].updatedAt, 4000);
  assert.is(store.getSession('old')?.providerSessionId, 'native');
  clock.set(5000);
  store.assignProviderSessionId('new', 'native-new');
  assert.equal(ids(store.listSessions().sessions), ['new', 'old']);

  // A run of a session the store does not know (a host's own store) writes only the run.
  log.runStarted({ runId: 'r9', sessionId: 'unknown', provider: 'claude', startedAt: 9000 });
  assert.equal(ids(store.listSessions().sessions), ['new', 'old']);
  assert.equal(log.unfinishedRuns().map((run) => run.runId), ['r0', 'r9']);
  log.close();
});

test('deleteSession: true and gone from every view; false when absent', () => {
  const store = createSqliteSessionStore(freshDatabase());
  store.createSession({ provider: 'claude', sessionId: 'a' });
  store.createSession({ provider: 'claude', sessionId: 'b' });
  assert.is(store.deleteSession('a'), true);
  assert.is(store.getSession('a'), null);
  assert.is(store.describeSession('a'), null);
  assert.equal(ids(store.listSessions().sessions), ['b']);
  assert.is(store.deleteSession('a'), false);
  assert.is(store.deleteSession('never'), false);
  store.createSession({ provider: 'codex', sessionId: 'a' }); // the id is free again
  assert.is(store.getSession('a')?.provider, 'codex');
});

test('10 000 sessions: paged completely in order, through the activity index', () => {
  const database = freshDatabase();
  const insert = database.sqlite.prepare('INSERT INTO sessions (session_id, provider, created_at, updated_at) VALUES (?, ?, ?, ?)');
  const total = 10_000;
  database.sqlite.transaction(() => {
    // 100 distinct timestamps: most of a page's neighbours tie.
    for (let i = 0; i < total; i++) insert.run(`s-${String(i).padStart(5, '0')}`, 'claude', i % 100, i % 100);
  })();
  const store = createSqliteSessionStore(database);
  const listed = allPages(store, MAX_SESSION_PAGE).flat();
  assert.is(listed.length, total);
  assert.is(new Set(ids(listed)).size, total);
  for (let i = 1; i < listed.length; i++) {
    const [prev, next] = [listed[i - 1], listed[i]];
    assert.ok(prev.updatedAt > next.updatedAt || (prev.updatedAt === next.updatedAt && prev.sessionId > next.sessionId));
  }
  // The query shape the store uses: an index walk from the cursor, no sort of the whole table.
  const plan = database.sqlite
    .prepare(
      'EXPLAIN QUERY PLAN SELECT * FROM sessions WHERE (updated_at, session_id) < (?, ?) ' +
        'ORDER BY updated_at DESC, session_id DESC LIMIT 201',
    )
    .all(50, 's-00050')
    .map((row) => (row as { detail: string }).detail)
    .join('; ');
  assert.match(plan, /USING INDEX sessions_activity/);
  assert.not.match(plan, /TEMP B-TREE/);
});

test.after(() => {
  for (const database of opened) database.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
