/**
 * GET /api/providers/sessions and DELETE /api/providers/sessions/:id over the real CLI, real
 * sockets and a real SQLite file: newest activity first, paged by cursor, `running` and
 * `latestSeq` live; a running session cannot be deleted; a deleted one is gone from the list,
 * from GET, from history and from the database file, and stays gone after a restart.
 */
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { DATABASE_FILE_NAME } from '../gateway/app/standalone.js';
import { connect } from './support/chatHarness.js';
import { restartableCli } from './support/restartableCli.js';
import { storedEventCount } from './support/storedEvents.js';

const cli = restartableCli('ag-sessions-rest-', 'sessions-rest-token');
const { dataDir, token: TOKEN } = cli;
const start = () => cli.start();
const stop = () => cli.stop();

test.after(() => cli.cleanup());

const { auth } = cli;

interface Listed {
  sessionId: string;
  provider: string;
  projectPath: string | null;
  createdAt: string;
  updatedAt: string;
  running: boolean;
  latestSeq: number;
}

async function list(base: string, query = ''): Promise<{ sessions: Listed[]; nextBefore: string | null }> {
  const res = await fetch(`${base}/api/providers/sessions${query}`, { headers: auth });
  assert.is(res.status, 200, query);
  return (await res.json()) as { sessions: Listed[]; nextBefore: string | null };
}

const request = (base: string, path: string, method = 'GET') => fetch(`${base}/api/providers/sessions${path}`, { method, headers: auth });

/** Rows (events: stored events) the database file holds for a session, read by a connection of our own. */
function storedRows(sessionId: string): { sessions: number; events: number; runs: number } {
  const db = new Database(join(dataDir, DATABASE_FILE_NAME), { readonly: true, fileMustExist: true });
  try {
    const countOf = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE session_id = ?`).get(sessionId) as { n: number }).n;
    return { sessions: countOf('sessions'), events: storedEventCount(db, sessionId), runs: countOf('runs') };
  } finally {
    db.close();
  }
}

const ids: string[] = [];

test('the list: newest first, ISO times, paged by cursor without a repeat or a hole', async () => {
  const { url } = await start();
  for (let i = 0; i < 5; i++) {
    ids.push(await cli.createSession());
    // Distinct creation times (milliseconds), so "newest first" has one answer.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const all = await list(url);
  assert.equal(all.sessions.map((s) => s.sessionId), [...ids].reverse());
  assert.is(all.nextBefore, null);
  for (const session of all.sessions) {
    assert.is(session.provider, 'demo');
    assert.is(session.projectPath, dataDir);
    assert.is(new Date(session.createdAt).toISOString(), session.createdAt, 'ISO 8601');
    assert.is(session.running, false);
    assert.is(session.latestSeq, 0);
  }

  const pages: string[][] = [];
  let before: string | null = null;
  do {
    const page: { sessions: Listed[]; nextBefore: string | null } = await list(url, `?limit=2${before ? `&before=${encodeURIComponent(before)}` : ''}`);
    pages.push(page.sessions.map((s) => s.sessionId));
    before = page.nextBefore;
  } while (before !== null);
  assert.equal(pages.flat(), [...ids].reverse());
  assert.equal(pages.map((p) => p.length), [2, 2, 1]);
  assert.is((await request(url, '?before=not-a-cursor')).status, 400);
});

test('a running session is listed running and cannot be deleted; once finished it is, with its log', async () => {
  const url = cli.running!.url;
  const [target] = ids;
  const client = await connect(url.replace('http', 'ws'), '/ws', TOKEN);
  try {
    client.send({ type: 'chat.send', sessionId: target, content: 'list the files' });
    const ask = await client.waitFor((f) => f.kind === 'permission_request', 15_000);
    const running = (await list(url)).sessions.find((s) => s.sessionId === target)!;
    assert.is(running.running, true);
    assert.ok(running.latestSeq > 0);
    assert.is((await list(url)).sessions[0].sessionId, target, 'a started run makes it the newest');

    const refused = await request(url, `/${target}`, 'DELETE');
    assert.is(refused.status, 409);
    assert.equal(await refused.json(), { error: 'The session has a run in progress; abort it first (chat.abort)', code: 'RUN_IN_PROGRESS' });
    assert.is((await request(url, `/${target}`)).status, 200, 'still there');

    client.send({ type: 'chat.permission-response', requestId: ask.requestId, allow: true });
    await client.waitFor((f) => f.kind === 'complete', 15_000);
    const done = (await list(url)).sessions.find((s) => s.sessionId === target)!;
    assert.is(done.running, false);
    assert.is(done.latestSeq, Math.max(...client.seqs(target)));
  } finally {
    await client.close();
  }
  const before = storedRows(target);
  assert.ok(before.events > 0 && before.runs > 0 && before.sessions === 1, JSON.stringify(before));

  const deleted = await request(url, `/${target}`, 'DELETE');
  assert.is(deleted.status, 204);
  assert.is(await deleted.text(), '');
  assert.is((await request(url, `/${target}`)).status, 404);
  assert.is((await request(url, `/${target}/messages`)).status, 404);
  assert.is((await request(url, `/${target}`, 'DELETE')).status, 404, 'a second DELETE');
  assert.not.ok((await list(url)).sessions.some((s) => s.sessionId === target));

  // A socket that names it now is told it does not exist.
  const late = await connect(url.replace('http', 'ws'), '/ws', TOKEN);
  try {
    late.send({ type: 'chat.send', sessionId: target, content: 'hello?' });
    const answer = await late.waitFor((f) => f.kind === 'protocol_error');
    assert.is(answer.code, 'SESSION_NOT_FOUND');
  } finally {
    await late.close();
  }
});

test('deleted stays deleted after a restart: no record, no events, no runs in the file', async () => {
  const [target] = ids;
  await stop();
  assert.equal(storedRows(target), { sessions: 0, events: 0, runs: 0 });
  const { url } = await start();
  assert.equal((await list(url)).sessions.map((s) => s.sessionId), ids.slice(1).reverse());
  assert.is((await request(url, `/${target}`)).status, 404);
  assert.is((await request(url, '/no-such-session', 'DELETE')).status, 404);
  const unauthorized = await fetch(`${url}/api/providers/sessions/${ids[1]}`, { method: 'DELETE' });
  assert.is(unauthorized.status, 401);
  assert.is((await request(url, `/${ids[1]}`)).status, 200, 'nothing deleted without the token');
});

test.run();
