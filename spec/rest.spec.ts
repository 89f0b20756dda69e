import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { createRestHandler, type RestDeps, type RunningRunSummary } from '../gateway/app/cli/rest.js';
import { HISTORY_PAGE_MAX, HISTORY_PAGE_MAX_BYTES, type SessionRoutesDeps, type StoredSessionSummary } from '../gateway/app/cli/restSessions.js';
import { SessionCursorError } from '../persistence/sessionStore.js';
import type { SessionRecord } from '../persistence/types.js';

const TOKEN = 'secret-token-for-tests';

interface Harness {
  base: string;
  created: Array<{ provider: string; projectPath: string }>;
  logs: string[];
  health: Record<string, unknown>;
  failCreate: boolean;
  close(): Promise<void>;
}

async function startServer(overrides: Partial<RestDeps> = {}): Promise<Harness> {
  const sessions = new Map<string, SessionRecord>();
  const running: RunningRunSummary[] = [{ sessionId: 's-running', provider: 'demo', startedAt: 1_700_000_000_000, lastSeq: 7 }];
  const harness = { created: [], logs: [], health: { status: 'ok', uptimeMs: 5 }, failCreate: false } as unknown as Harness;
  const record = (level: string) => (message: string, fields?: Record<string, unknown>) => harness.logs.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  const handler = createRestHandler({
    token: TOKEN,
    sessions: {
      createSession(input) {
        if (harness.failCreate) throw new Error('database is locked');
        harness.created.push(input);
        const sessionId = `s-${harness.created.length}`;
        sessions.set(sessionId, { sessionId, provider: input.provider, providerSessionId: 'native-secret', projectPath: input.projectPath });
        return { sessionId };
      },
      getSession: (id) => sessions.get(id) ?? null,
    },
    providers: () => ['demo', 'claude'],
    listRunningRuns: () => running,
    health: () => harness.health,
    logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
    ...overrides,
  });
  const server = http.createServer((req, res) => {
    if (handler(req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('caller 404');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  harness.base = `http://127.0.0.1:${port}`;
  harness.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return harness;
}

const auth = { authorization: `Bearer ${TOKEN}` };

function postSession(h: Harness, body: string, headers: Record<string, string> = auth) {
  return fetch(`${h.base}/api/providers/sessions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

/** Sends a body in chunks without a content-length, so only the streaming limit can catch it. */
function postChunked(h: Harness, chunks: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${h.base}/api/providers/sessions`, { method: 'POST', headers: { ...auth, 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

test('GET /healthz needs no token and serves the health object, degraded included', async () => {
  const h = await startServer();
  try {
    let res = await fetch(`${h.base}/healthz?probe=1`);
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(await res.json(), { status: 'ok', uptimeMs: 5 });

    h.health = { status: 'degraded', lastError: 'disk full' };
    res = await fetch(`${h.base}/healthz`);
    assert.is(res.status, 200);
    assert.equal(await res.json(), { status: 'degraded', lastError: 'disk full' });

    res = await fetch(`${h.base}/healthz`, { method: 'POST' });
    assert.is(res.status, 405);
    assert.is(res.headers.get('allow'), 'GET, HEAD');
  } finally {
    await h.close();
  }
});

test('every other route refuses a missing, wrong or malformed token with 401', async () => {
  const h = await startServer();
  try {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Basic ${TOKEN}` },
      { authorization: TOKEN },
      { authorization: `Bearer ${TOKEN} extra` },
    ];
    for (const headers of attempts) {
      const res = await fetch(`${h.base}/api/providers/sessions/running`, { headers });
      assert.is(res.status, 401, JSON.stringify(headers));
      assert.is(res.headers.get('www-authenticate'), 'Bearer');
      assert.equal(await res.json(), { error: 'Missing or invalid bearer token' });
    }
    const post = await postSession(h, JSON.stringify({ provider: 'demo', projectPath: '/p' }), {});
    assert.is(post.status, 401);
    assert.is(h.created.length, 0);

    const lower = await fetch(`${h.base}/api/providers/sessions/running`, { headers: { authorization: `bearer ${TOKEN}` } });
    assert.is(lower.status, 200);
  } finally {
    await h.close();
  }
});

test('GET /api/providers/sessions/running lists the running runs', async () => {
  const h = await startServer();
  try {
    const res = await fetch(`${h.base}/api/providers/sessions/running`, { headers: auth });
    assert.is(res.status, 200);
    assert.equal(await res.json(), [{ sessionId: 's-running', provider: 'demo', startedAt: 1_700_000_000_000, lastSeq: 7 }]);
  } finally {
    await h.close();
  }
});

test('POST /api/providers/sessions creates a session and returns 201 { sessionId }', async () => {
  const h = await startServer();
  try {
    const res = await postSession(h, JSON.stringify({ provider: 'demo', projectPath: '/work/project' }));
    assert.is(res.status, 201);
    assert.equal(await res.json(), { sessionId: 's-1' });
    assert.equal(h.created, [{ provider: 'demo', projectPath: '/work/project' }]);

    const got = await fetch(`${h.base}/api/providers/sessions/s-1`, { headers: auth });
    assert.is(got.status, 200);
    assert.equal(await got.json(), { sessionId: 's-1', provider: 'demo', projectPath: '/work/project' });
    const missing = await fetch(`${h.base}/api/providers/sessions/nope`, { headers: auth });
    assert.is(missing.status, 404);
    assert.equal(await missing.json(), { error: 'Session not found' });
  } finally {
    await h.close();
  }
});

test('POST /api/providers/sessions rejects bad bodies with 400 and a reason', async () => {
  const h = await startServer();
  try {
    const cases: Array<[string, RegExp]> = [
      ['{not json', /not valid JSON/],
      ['', /not valid JSON/],
      ['[1,2]', /JSON object/],
      ['null', /JSON object/],
      [JSON.stringify({ projectPath: '/p' }), /provider is required/],
      [JSON.stringify({ provider: '', projectPath: '/p' }), /provider is required/],
      [JSON.stringify({ provider: 42, projectPath: '/p' }), /provider is required/],
      [JSON.stringify({ provider: 'gemini', projectPath: '/p' }), /Unknown provider "gemini"/],
      [JSON.stringify({ provider: 'demo' }), /projectPath must be a string/],
      [JSON.stringify({ provider: 'demo', projectPath: 7 }), /projectPath must be a string/],
    ];
    for (const [body, reason] of cases) {
      const res = await postSession(h, body);
      assert.is(res.status, 400, body);
      const json = (await res.json()) as { error: string };
      assert.match(json.error, reason, body);
    }
    assert.is(h.created.length, 0);
  } finally {
    await h.close();
  }
});

test('a body over 64 KiB gets 413, whether announced by content-length or streamed', async () => {
  const h = await startServer();
  try {
    const padding = 'x'.repeat(64 * 1024);
    const announced = await postSession(h, JSON.stringify({ provider: 'demo', projectPath: padding }));
    assert.is(announced.status, 413);
    assert.match(((await announced.json()) as { error: string }).error, /exceeds 65536 bytes/);

    const streamed = await postChunked(h, ['{"provider":"demo","projectPath":"', 'y'.repeat(40 * 1024), 'y'.repeat(40 * 1024), '"}']);
    assert.is(streamed.status, 413);

    // Just under the limit is read (the padding is a field the route ignores: projectPath has its own bound).
    const fits = await postSession(h, JSON.stringify({ provider: 'demo', projectPath: '/p', padding: 'z'.repeat(60 * 1024) }));
    assert.is(fits.status, 201);
    assert.is(h.created.length, 1);
  } finally {
    await h.close();
  }
});

test('a failing store gives 500 without leaking details or the token', async () => {
  const h = await startServer();
  try {
    h.failCreate = true;
    const res = await postSession(h, JSON.stringify({ provider: 'demo', projectPath: '/p' }));
    assert.is(res.status, 500);
    assert.equal(await res.json(), { error: 'Internal error' });
    assert.ok(h.logs.some((line) => line.startsWith('error REST request failed') && line.includes('database is locked')));
    const unauthorized = await fetch(`${h.base}/api/providers/sessions/running`, { headers: { authorization: 'Bearer guess-123' } });
    assert.is(unauthorized.status, 401);
    for (const line of h.logs) {
      assert.not.ok(line.includes(TOKEN), line);
      assert.not.ok(line.includes('guess-123'), line);
    }
  } finally {
    await h.close();
  }
});

test('paths that are not its own fall through to the caller; wrong methods get 405', async () => {
  const h = await startServer();
  try {
    for (const path of ['/', '/healthz/', '/api/providers', '/api/providers/sessions/', '/api/providers/sessions/a/b', '/api/other']) {
      const res = await fetch(`${h.base}${path}`, { headers: auth });
      assert.is(res.status, 404, path);
      assert.is(await res.text(), 'caller 404', path);
    }
    const wrong = await fetch(`${h.base}/api/providers/sessions`, { headers: auth });
    assert.is(wrong.status, 405);
    assert.is(wrong.headers.get('allow'), 'POST');
    const wrongRunning = await fetch(`${h.base}/api/providers/sessions/running`, { method: 'DELETE', headers: auth });
    assert.is(wrongRunning.status, 405);
  } finally {
    await h.close();
  }
});

test('without getSession the per-session route is not served', async () => {
  const h = await startServer({
    sessions: { createSession: () => ({ sessionId: 'x' }) },
  });
  try {
    const res = await fetch(`${h.base}/api/providers/sessions/x`, { headers: auth });
    assert.is(res.status, 404);
    assert.is(await res.text(), 'caller 404');
  } finally {
    await h.close();
  }
});

/** Session routes over plain data: what the handler asks for and answers, nothing stored. */
function fakeSessionRoutes() {
  const stored: StoredSessionSummary[] = [
    { sessionId: 'new', provider: 'demo', projectPath: '/w/a', createdAt: Date.UTC(2025, 0, 2), updatedAt: Date.UTC(2025, 0, 3) },
    { sessionId: 'old', provider: 'demo', projectPath: null, createdAt: Date.UTC(2025, 0, 1), updatedAt: Date.UTC(2025, 0, 1) },
  ];
  const events = new Map<string, Array<{ seq: number; json: string }>>([
    ['new', [1, 2, 3, 4, 5].map((seq) => ({ seq, json: JSON.stringify({ kind: 'text', sessionId: 'new', seq, content: `m${seq}` }) }))],
    ['old', []],
  ]);
  const calls: string[] = [];
  const pendingWrites: Array<() => void> = [];
  const state = { running: new Set<string>(['busy']), holdWrites: false };
  const routes: SessionRoutesDeps = {
    listSessions({ limit, before }) {
      calls.push(`list ${limit} ${before}`);
      if (before === 'garbage') throw new SessionCursorError();
      return { sessions: stored.slice(0, limit), nextBefore: limit < stored.length ? 'cursor-1' : null };
    },
    deleteSession(sessionId) {
      calls.push(`delete ${sessionId}`);
      return stored.some((session) => session.sessionId === sessionId);
    },
    hasSession: (sessionId) => sessionId === 'busy' || stored.some((session) => session.sessionId === sessionId),
    isRunning: (sessionId) => state.running.has(sessionId),
    forgetSession: (sessionId) => {
      calls.push(`forget ${sessionId}`);
      return true;
    },
    history: {
      read(sessionId, afterSeq, limit) {
        calls.push(`read ${sessionId} ${afterSeq} ${limit}`);
        return (events.get(sessionId) ?? []).filter((event) => event.seq > afterSeq).slice(0, limit);
      },
      latestSeq: (sessionId) => (events.get(sessionId) ?? []).length,
      oldestSeq: (sessionId) => ((events.get(sessionId) ?? []).length > 0 ? 1 : 0),
      whenWritten(callback) {
        if (state.holdWrites) pendingWrites.push(callback);
        else callback();
      },
    },
  };
  return { routes, calls, state, pendingWrites, events };
}

const getJson = async (h: Harness, path: string, method = 'GET') => {
  const res = await fetch(`${h.base}${path}`, { method, headers: auth });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text === '' ? null : (JSON.parse(text) as Record<string, unknown>) };
};

test('GET /api/providers/sessions: a page with ISO times, running and latestSeq; limit and before checked', async () => {
  const fake = fakeSessionRoutes();
  const h = await startServer({ sessionRoutes: fake.routes });
  try {
    const all = await getJson(h, '/api/providers/sessions');
    assert.is(all.status, 200);
    assert.equal(all.body, {
      sessions: [
        { sessionId: 'new', provider: 'demo', projectPath: '/w/a', createdAt: '2025-01-02T00:00:00.000Z', updatedAt: '2025-01-03T00:00:00.000Z', running: false, latestSeq: 5 },
        { sessionId: 'old', provider: 'demo', projectPath: null, createdAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z', running: false, latestSeq: 0 },
      ],
      nextBefore: null,
    });
    const first = await getJson(h, '/api/providers/sessions?limit=1');
    assert.equal((first.body as { nextBefore: string }).nextBefore, 'cursor-1');
    await getJson(h, '/api/providers/sessions?limit=100000&before=cursor-1');
    assert.equal(fake.calls, ['list 50 null', 'list 1 null', 'list 200 cursor-1'], 'default 50, clamped to 200, the cursor passed on');

    for (const query of ['limit=0', 'limit=-1', 'limit=abc', 'limit=1.5', 'limit=1&limit=2', 'before=garbage', `before=${'c'.repeat(600)}`, 'before=a&before=b']) {
      const refused = await getJson(h, `/api/providers/sessions?${query}`);
      assert.is(refused.status, 400, query);
      assert.type((refused.body as { error: string }).error, 'string');
    }
    const put = await getJson(h, '/api/providers/sessions', 'PUT');
    assert.is(put.status, 405);
    assert.is(put.headers.get('allow'), 'GET, HEAD, POST');
  } finally {
    await h.close();
  }
});

test('DELETE /api/providers/sessions/:id: 204 and forgotten; 404 unknown; 409 while running, nothing deleted', async () => {
  const fake = fakeSessionRoutes();
  const h = await startServer({ sessionRoutes: fake.routes });
  try {
    const busy = await getJson(h, '/api/providers/sessions/busy', 'DELETE');
    assert.is(busy.status, 409);
    assert.equal(busy.body, { error: 'The session has a run in progress; abort it first (chat.abort)', code: 'RUN_IN_PROGRESS' });
    const unknown = await getJson(h, '/api/providers/sessions/nope', 'DELETE');
    assert.is(unknown.status, 404);
    assert.equal(fake.calls, [], 'neither deleted nor forgotten');

    const done = await getJson(h, '/api/providers/sessions/old', 'DELETE');
    assert.is(done.status, 204);
    assert.is(done.text, '');
    assert.equal(fake.calls, ['forget old', 'delete old'], 'the actor and log first, then the record');
    const running = await getJson(h, '/api/providers/sessions/running', 'DELETE');
    assert.is(running.status, 405, '"running" is not a session id');
  } finally {
    await h.close();
  }
});

test('GET /api/providers/sessions/:id/messages: frames in seq order, hasMore, bounds; 404 and 400', async () => {
  const fake = fakeSessionRoutes();
  const h = await startServer({ sessionRoutes: fake.routes });
  try {
    const page = await getJson(h, '/api/providers/sessions/new/messages?afterSeq=1&limit=2');
    assert.is(page.status, 200);
    assert.equal(page.body, {
      messages: [
        { kind: 'text', sessionId: 'new', seq: 2, content: 'm2' },
        { kind: 'text', sessionId: 'new', seq: 3, content: 'm3' },
      ],
      hasMore: true,
      oldestSeq: 1,
      latestSeq: 5,
    });
    const rest = await getJson(h, '/api/providers/sessions/new/messages?afterSeq=3');
    assert.equal((rest.body as { messages: Array<{ seq: number }> }).messages.map((m) => m.seq), [4, 5]);
    assert.is((rest.body as { hasMore: boolean }).hasMore, false);
    const empty = await getJson(h, '/api/providers/sessions/old/messages');
    assert.equal(empty.body, { messages: [], hasMore: false, oldestSeq: 0, latestSeq: 0 });
    fake.calls.length = 0;
    await getJson(h, `/api/providers/sessions/new/messages?limit=${HISTORY_PAGE_MAX * 10}`);
    assert.equal(fake.calls, [`read new 0 ${HISTORY_PAGE_MAX + 1}`], 'the limit is clamped (one more is read to know hasMore)');

    assert.is((await getJson(h, '/api/providers/sessions/nope/messages')).status, 404);
    for (const query of ['afterSeq=-1', 'afterSeq=x', 'afterSeq=1e3', 'limit=0', 'limit=2.5', 'afterSeq=1&afterSeq=2']) {
      assert.is((await getJson(h, `/api/providers/sessions/new/messages?${query}`)).status, 400, query);
    }
    assert.is((await getJson(h, '/api/providers/sessions/new/messages', 'POST')).status, 405);
    assert.is((await getJson(h, '/api/providers/sessions/%E0%A4%A/messages')).status, 400, 'a malformed escape');
    const other = await fetch(`${h.base}/api/providers/sessions/new/other`, { headers: auth });
    assert.is(await other.text(), 'caller 404', 'not a route of the handler');
  } finally {
    await h.close();
  }
});

test('a history page holds at most HISTORY_PAGE_MAX_BYTES of frames (its first frame whatever its size)', async () => {
  const fake = fakeSessionRoutes();
  const frame = (seq: number, size: number) => ({ seq, json: JSON.stringify({ kind: 'text', sessionId: 'new', seq, content: 'x'.repeat(size) }) });
  const third = Math.floor(HISTORY_PAGE_MAX_BYTES / 3);
  fake.events.set('new', [frame(1, HISTORY_PAGE_MAX_BYTES * 2), frame(2, third), frame(3, third), frame(4, third), frame(5, 10)]);
  const h = await startServer({ sessionRoutes: fake.routes });
  try {
    const seqs = async (afterSeq: number) => {
      const page = await getJson(h, `/api/providers/sessions/new/messages?afterSeq=${afterSeq}`);
      const body = page.body as { messages: Array<{ seq: number }>; hasMore: boolean };
      return { seqs: body.messages.map((m) => m.seq), hasMore: body.hasMore };
    };
    assert.equal(await seqs(0), { seqs: [1], hasMore: true }, 'an oversized first frame comes alone');
    assert.equal(await seqs(1), { seqs: [2, 3], hasMore: true }, 'the page ends before the bound');
    assert.equal(await seqs(3), { seqs: [4, 5], hasMore: false });
  } finally {
    await h.close();
  }
});

test('history is durable before visible: the answer waits for the log to write what it read', async () => {
  const fake = fakeSessionRoutes();
  const h = await startServer({ sessionRoutes: fake.routes });
  try {
    fake.state.holdWrites = true;
    let answered = false;
    const pending = fetch(`${h.base}/api/providers/sessions/new/messages`, { headers: auth }).then((res) => {
      answered = true;
      return res;
    });
    const deadline = Date.now() + 5000;
    while (fake.pendingWrites.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.is(fake.pendingWrites.length, 1, 'the route asked to be told when the log is written');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.not.ok(answered, 'no answer before the write');
    fake.pendingWrites[0]();
    assert.is((await pending).status, 200);
  } finally {
    await h.close();
  }
});

test('POST /api/providers/sessions checks projectPath with the workspace and stores the resolved path', async () => {
  const h = await startServer({
    workspace: {
      async check(requested, options) {
        assert.equal(options, { requireAbsolute: true });
        if (requested === '/w/link') return { ok: true, path: '/w/real' };
        return { ok: false, code: 'PROJECT_PATH_OUTSIDE_WORKSPACE', error: 'projectPath is outside every workspace root' };
      },
    },
  });
  try {
    const refused = await postSession(h, JSON.stringify({ provider: 'demo', projectPath: '/etc' }));
    assert.is(refused.status, 400);
    assert.equal(await refused.json(), { error: 'projectPath is outside every workspace root', code: 'PROJECT_PATH_OUTSIDE_WORKSPACE' });
    assert.is(h.created.length, 0);
    const created = await postSession(h, JSON.stringify({ provider: 'demo', projectPath: '/w/link' }));
    assert.is(created.status, 201);
    assert.equal(h.created, [{ provider: 'demo', projectPath: '/w/real' }]);
  } finally {
    await h.close();
  }
});

/** The same routes answering through promises, as a cluster backend's store and log do. */
function asPromises(routes: SessionRoutesDeps): SessionRoutesDeps {
  const later = <T>(answer: () => T | Promise<T>): Promise<T> => new Promise((resolve, reject) => setImmediate(() => {
    try {
      resolve(answer());
    } catch (error) {
      reject(error);
    }
  }));
  return {
    listSessions: (page) => later(() => routes.listSessions(page)),
    deleteSession: (id) => later(() => routes.deleteSession(id)),
    hasSession: (id) => later(() => routes.hasSession(id)),
    isRunning: (id) => later(() => routes.isRunning(id)),
    forgetSession: (id) => later(() => routes.forgetSession!(id)),
    history: {
      read: (id, afterSeq, limit) => later(() => routes.history.read(id, afterSeq, limit)),
      latestSeq: (id) => later(() => routes.history.latestSeq(id)),
      oldestSeq: (id) => later(() => routes.history.oldestSeq(id)),
    },
  };
}

test('[cluster] session routes over an asynchronous store and log answer exactly as over a synchronous one', async () => {
  const sync = fakeSessionRoutes();
  const async = fakeSessionRoutes();
  const hSync = await startServer({ sessionRoutes: sync.routes });
  const hAsync = await startServer({
    sessionRoutes: asPromises(async.routes),
    sessions: {
      createSession: async () => ({ sessionId: 'unused' }),
      getSession: async (id) => (id === 'new' ? { sessionId: 'new', provider: 'demo', providerSessionId: null, projectPath: '/w/a' } : null),
    },
    listRunningRuns: async () => [{ sessionId: 'busy', provider: 'demo', startedAt: 1, lastSeq: 3, nodeId: 'node-2' }],
  });
  try {
    const paths: Array<[string, string]> = [
      ['/api/providers/sessions', 'GET'],
      ['/api/providers/sessions?limit=1', 'GET'],
      ['/api/providers/sessions?before=garbage', 'GET'],
      ['/api/providers/sessions?limit=0', 'GET'],
      ['/api/providers/sessions/new/messages?afterSeq=1&limit=2', 'GET'],
      ['/api/providers/sessions/old/messages', 'GET'],
      ['/api/providers/sessions/nope/messages', 'GET'],
      ['/api/providers/sessions/new/messages?afterSeq=-1', 'GET'],
      ['/api/providers/sessions/busy', 'DELETE'],
      ['/api/providers/sessions/nope', 'DELETE'],
      ['/api/providers/sessions/old', 'DELETE'],
    ];
    for (const [path, method] of paths) {
      const [a, b] = await Promise.all([getJson(hSync, path, method), getJson(hAsync, path, method)]);
      assert.is(b.status, a.status, `${method} ${path}`);
      assert.is(b.text, a.text, `${method} ${path}`);
    }
    assert.equal(async.calls, sync.calls, 'the same calls in the same order (forget before delete)');
    const one = await getJson(hAsync, '/api/providers/sessions/new');
    assert.equal(one.body, { sessionId: 'new', provider: 'demo', projectPath: '/w/a' });
    assert.is((await getJson(hAsync, '/api/providers/sessions/nope')).status, 404);
    const running = await getJson(hAsync, '/api/providers/sessions/running');
    assert.equal(running.body, [{ sessionId: 'busy', provider: 'demo', startedAt: 1, lastSeq: 3, nodeId: 'node-2' }]);
  } finally {
    await hSync.close();
    await hAsync.close();
  }
});

test('[cluster] a rejecting store or log is a 500 (logged), a rejected cursor a 400, a refused forget a 409', async () => {
  const fake = fakeSessionRoutes();
  const routes = asPromises(fake.routes);
  const h = await startServer({
    sessionRoutes: {
      ...routes,
      listSessions: (page) => (page.before === 'down' ? Promise.reject(new Error('Connection is closed.')) : routes.listSessions(page)),
      forgetSession: async (id) => id !== 'new',
      history: { ...routes.history, read: () => Promise.reject(new Error('Connection is closed.')) },
    },
  });
  try {
    assert.is((await getJson(h, '/api/providers/sessions?before=garbage')).status, 400);
    const down = await getJson(h, '/api/providers/sessions?before=down');
    assert.equal([down.status, down.body], [500, { error: 'Internal error' }]);
    assert.is((await getJson(h, '/api/providers/sessions/new/messages')).status, 500);
    assert.ok(h.logs.some((line) => line.startsWith('error REST request failed') && line.includes('Connection is closed.')));
    const refused = await getJson(h, '/api/providers/sessions/new', 'DELETE');
    assert.equal([refused.status, (refused.body as { code: string }).code], [409, 'RUN_IN_PROGRESS']);
    assert.not.ok(fake.calls.includes('delete new'), 'the record stays');
  } finally {
    await h.close();
  }
});

test.run();
