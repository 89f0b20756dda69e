/**
 * The SQLite session store: create, look up, map the provider-native id, describe, list.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../persistence/database.js';
import type { GatewayDatabase } from '../persistence/database.js';
import { createSqliteEventLog } from '../persistence/eventLog.js';
import { createSqliteSessionStore } from '../persistence/sessionStore.js';

const dir = fs.mkdtempSync(os.tmpdir() + '/ag-');
let fileCounter = 0;
const opened: GatewayDatabase[] = [];
function freshDatabase(): GatewayDatabase {
  const database = openDatabase(path.join(dir, `sessions-${++fileCounter}.sqlite`));
  opened.push(database);
  return database;
}
function manualClock(start: number) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('createSession makes a UUID unless given an id; getSession returns the record', () => {
  const store = createSqliteSessionStore(freshDatabase());
  const generated = store.createSession({ provider: 'claude', projectPath: '/repo' });
  assert.match(generated.sessionId, UUID);
  assert.equal(generated, { sessionId: generated.sessionId, provider: 'claude', providerSessionId: null, projectPath: '/repo' });
  assert.equal(store.getSession(generated.sessionId), generated);

  const named = store.createSession({ provider: 'codex', sessionId: 'app-1' });
  assert.equal(store.getSession('app-1'), { sessionId: 'app-1', provider: 'codex', providerSessionId: null, projectPath: null });
  assert.is(store.getSession('nope'), null);
  assert.throws(() => store.createSession({ provider: 'claude', sessionId: named.sessionId }), /UNIQUE|constraint/i);
});

test('assignProviderSessionId records the native id, replaces it later, and bumps activity', () => {
  const clock = manualClock(1_700_000_000_000);
  const store = createSqliteSessionStore(freshDatabase(), { now: clock.now });
  const { sessionId } = store.createSession({ provider: 'claude' });
  clock.advance(5000);
  store.assignProviderSessionId(sessionId, 'native-1');
  assert.is(store.getSession(sessionId)?.providerSessionId, 'native-1');
  assert.is(store.describeSession(sessionId)?.session.lastActivity, new Date(1_700_000_005_000).toISOString());
  store.assignProviderSessionId(sessionId, 'native-2');
  assert.is(store.getSession(sessionId)?.providerSessionId, 'native-2');
  store.assignProviderSessionId('unknown', 'native-3'); // no row, no throw
  assert.is(store.getSession('unknown'), null);
});

test('describeSession: summary, retained event count, ISO activity, project; never the native id', () => {
  const database = freshDatabase();
  const clock = manualClock(1_700_000_000_000);
  const store = createSqliteSessionStore(database, { now: clock.now });
  const log = createSqliteEventLog(database, {
    maxEventsPerSession: 3,
    maxBytesPerSession: 1 << 20,
    tailEvents: 10,
    batchMaxEvents: 100,
    scheduleFlush: () => {},
  });
  const withProject = store.createSession({ provider: 'claude', projectPath: '/work/app', summary: 'Fix the bug' });
  const bare = store.createSession({ provider: 'claude' });
  store.assignProviderSessionId(withProject.sessionId, 'native-secret');
  for (let seq = 1; seq <= 5; seq++) {
    log.append({ sessionId: withProject.sessionId, seq, runId: 'r1', kind: 'text', json: `{"seq":${seq}}`, at: seq });
  }
  log.flush();

  const described = store.describeSession(withProject.sessionId);
  assert.equal(described, {
    session: {
      id: withProject.sessionId,
      summary: 'Fix the bug',
      messageCount: 3, // pruned to maxEventsPerSession
      lastActivity: new Date(1_700_000_000_000).toISOString(),
    },
    project: { path: '/work/app' },
  });
  assert.not.match(JSON.stringify(described), 'native-secret');
  assert.equal(store.describeSession(bare.sessionId)?.project, null);
  assert.is(store.describeSession(bare.sessionId)?.session.messageCount, 0);
  assert.is(store.describeSession('missing'), null);
});

test('listSessions: most recent activity first, bounded by limit', () => {
  const clock = manualClock(1000);
  const store = createSqliteSessionStore(freshDatabase(), { now: clock.now });
  const a = store.createSession({ provider: 'claude', sessionId: 'a' });
  clock.advance(10);
  store.createSession({ provider: 'claude', sessionId: 'b' });
  clock.advance(10);
  store.createSession({ provider: 'claude', sessionId: 'c' });
  clock.advance(10);
  store.assignProviderSessionId(a.sessionId, 'native-a');
  assert.equal(store.listSessions().sessions.map((s) => s.sessionId), ['a', 'c', 'b']);
  assert.equal(store.listSessions({ limit: 2 }).sessions.map((s) => s.sessionId), ['a', 'c']);
});

test('sessions survive a reopen', () => {
  const file = path.join(dir, 'reopen.sqlite');
  const first = openDatabase(file);
  const created = createSqliteSessionStore(first).createSession({ provider: 'claude', projectPath: '/p' });
  createSqliteSessionStore(first).assignProviderSessionId(created.sessionId, 'n1');
  first.close();
  const second = openDatabase(file);
  opened.push(second);
  assert.equal(createSqliteSessionStore(second).getSession(created.sessionId), { ...created, providerSessionId: 'n1' });
});

test.after(() => {
  for (const database of opened) database.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
