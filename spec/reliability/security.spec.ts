/**
 * Attack tests against the real wiring (createWebSocketServer with all three routes, and the CLI
 * process for what depends on its environment and output). spec/transport.spec.ts,
 * spec/chatErrors.spec.ts, spec/chatPermissions.spec.ts, spec/shellRoute.spec.ts and
 * spec/pluginName.spec.ts cover the first cases of each; this file adds the routes, variants and
 * bypass attempts they do not.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';

import { openDatabase } from '../../persistence/database.js';
import { createSqliteSessionStore } from '../../persistence/sessionStore.js';
import { connect, createScriptedRuntime, TOKEN, type ScriptedRuntime, type TestClient } from '../support/chatHarness.js';
import type { CliChild } from '../support/cliProcess.js';
import { rawUpgradeCloseStatus } from '../support/pluginRawClient.js';
import { createCliSession, startCliWith, wsUrl } from './support/cliSession.js';
import { removeDir, startReliabilityGateway, waitUntil, type ReliabilityGateway } from './support/gateway.js';

const test = suite<{ gw: ReliabilityGateway; lookups: string[]; runtime: ScriptedRuntime }>('reliability: security');

const ROUTES = ['/ws', '/shell', '/plugin-ws/echo'];

test.before.each(async (ctx) => {
  ctx.lookups = [];
  ctx.runtime = createScriptedRuntime();
  ctx.gw = await startReliabilityGateway({ runtime: ctx.runtime, pluginLookups: ctx.lookups });
});
test.after.each(async (ctx) => {
  await ctx.gw.close();
  removeDir(ctx.gw.h.dir);
});

const statusOf = async (promise: Promise<unknown>): Promise<number | 'open'> => {
  try {
    const client = (await promise) as TestClient;
    await client.close();
    return 'open';
  } catch (error) {
    return (error as { status?: number }).status ?? -1;
  }
};

test('a foreign Origin is refused with 403 on every route, before authentication, whatever the token', async ({ gw }) => {
  const { url, port } = gw.h;
  const foreign = ['https://evil.example', 'null', `http://127.0.0.1:${port}.evil.example`, `http://127.0.0.1:${port + 1}`, 'http://localhost.evil', 'not a url'];
  for (const path of ROUTES) {
    for (const origin of foreign) {
      assert.is(await statusOf(connect(url, path, TOKEN, { Origin: origin })), 403, `${path} from ${origin}`);
      assert.is(await statusOf(connect(url, path, 'wrong', { Origin: origin })), 403, `${path} from ${origin}, bad token`);
    }
    assert.is(await statusOf(connect(url, path, TOKEN, { Origin: `http://127.0.0.1:${port}` })), 'open', `${path} same host`);
    assert.is(await statusOf(connect(url, path, TOKEN, { Origin: `HTTP://127.0.0.1:${port}` })), 'open', `${path} same host, other case`);
  }
});

test('no, empty, wrong or cookie-only token → 401 on every route; the query token wins over the header', async ({ gw }) => {
  const { url } = gw.h;
  for (const path of [...ROUTES, '/nowhere']) {
    assert.is(await statusOf(connect(url, path, null)), 401, `${path} without token`);
    assert.is(await statusOf(connect(url, `${path}?token=`, null)), 401, `${path} empty token`);
    assert.is(await statusOf(connect(url, path, `${TOKEN}x`)), 401, `${path} near-miss token`);
    assert.is(await statusOf(connect(url, path, null, { Cookie: `token=${TOKEN}` })), 401, `${path} cookie only`);
    assert.is(await statusOf(connect(url, path, 'wrong', { Authorization: `Bearer ${TOKEN}` })), 401, `${path} bad query, good header`);
    assert.is(await statusOf(connect(url, path, null, { Authorization: 'Bearer' })), 401, `${path} header without token`);
  }
});

test('token expiry closes /ws, /shell and /plugin-ws with 4401 (epoch-ms and JWT exp), already expired at once', async () => {
  const now = Date.now();
  const users = [{ expiresAt: now + 400 }, { exp: Math.floor(now / 1000) + 1 }, { expiresAt: now - 1000 }];
  for (const user of users) {
    const gw = await startReliabilityGateway({
      runtime: createScriptedRuntime(),
      deps: { verifyClient: { authenticateWebSocket: (token) => (token === TOKEN ? { id: 'u', ...user } : null) } },
    });
    try {
      for (const path of ROUTES) {
        const client = await connect(gw.h.url, path);
        const closed = await client.waitForClose(5000);
        assert.equal(closed, { code: 4401, reason: 'Token expired' }, `${path} ${JSON.stringify(user)}`);
      }
    } finally {
      await gw.close();
      removeDir(gw.h.dir);
    }
  }
});

test('/shell: paths outside the allowed root, .. tricks, symlinks, a sibling sharing the prefix → Invalid project path', async ({ gw }) => {
  const root = gw.workspace;
  mkdirSync(join(root, 'inside'), { recursive: true });
  mkdirSync(`${root}-evil`, { recursive: true });
  writeFileSync(join(root, 'file.txt'), 'x');
  symlinkSync('/etc', join(root, 'out'));
  symlinkSync(join(root, 'inside'), join(root, 'in'));
  const refused = [
    `${root}/..`, `${root}/inside/../..`, `${root}/../${root.split('/').pop()}-evil`, `${root}-evil`, join(root, 'out'),
    `${join(root, 'out')}/ssl`, join(root, 'file.txt'), `${root}\u0000/inside`, '/', '/etc', 'inside', '', '%2e%2e', `${root}/%2e%2e`,
  ];
  const client = await connect(gw.h.url, '/shell');
  for (const projectPath of refused) {
    const from = client.frames.length;
    client.send({ type: 'init', projectPath, isPlainShell: true, initialCommand: 'true' });
    const answer = await client.waitFor((f) => f.type === 'error' || f.type === 'output', 5000, from);
    // [ours] the code says which of the three causes; outside the roots nothing more is said.
    assert.is(answer.type, 'error', JSON.stringify(projectPath));
    assert.is(answer.message, 'Invalid project path', JSON.stringify(projectPath));
    assert.match(String(answer.code), /^PROJECT_PATH_(NOT_FOUND|NOT_DIRECTORY|OUTSIDE_WORKSPACE)$/, JSON.stringify(projectPath));
  }
  // Inside (also through a symlink that stays inside) is accepted.
  for (const projectPath of [join(root, 'inside'), join(root, 'in'), `${root}/inside/../inside`]) {
    const from = client.frames.length;
    client.send({ type: 'init', projectPath, isPlainShell: true, initialCommand: 'echo started; exit 0', forceRestart: true });
    await client.waitFor((f) => typeof f.data === 'string' && f.data.includes('started'), 5000, from);
  }
  await client.close();
});

test('session-id injection: never on a command line, never in SQL', async ({ gw }) => {
  const marker = join(gw.h.dir, 'pwned');
  const client = await connect(gw.h.url, '/shell');
  for (const sessionId of [`x; touch ${marker}`, `$(touch ${marker})`, `\`touch ${marker}\``, 'a b', '"', "x' || '"]) {
    const from = client.frames.length;
    client.send({ type: 'init', projectPath: gw.workspace, sessionId, hasSession: true, provider: 'claude' });
    const answer = await client.waitFor((f) => f.type === 'error' || f.type === 'output', 5000, from);
    assert.equal(answer, { type: 'error', message: 'Invalid session ID' }, sessionId);
  }
  // A provider-native id from the store is a resume id only if it is safe: this one never reaches bash.
  const database = openDatabase(gw.h.dbPath);
  const store = createSqliteSessionStore(database);
  const { sessionId } = store.createSession({ provider: 'claude', projectPath: gw.workspace });
  store.assignProviderSessionId(sessionId, `abc"; touch ${marker}; echo "`);
  database.close();
  const from = client.frames.length;
  client.send({ type: 'init', projectPath: gw.workspace, sessionId, hasSession: true, provider: 'claude' });
  const welcome = await client.waitFor((f) => typeof f.data === 'string' && /session/.test(f.data), 5000, from);
  assert.match(String(welcome.data), /Starting new Claude session/, 'no resume with an unsafe id');
  await client.waitFor((f) => typeof f.data === 'string' && f.data.includes('Process exited'), 5000, from);
  assert.not.ok(existsSync(marker), 'nothing ran');
  await client.close();
  // The chat route: ids are bound parameters; the session table survives.
  const chat = await connect(gw.h.url);
  for (const id of ["' OR 1=1 --", `${sessionId}' --`, '"; DROP TABLE sessions; --']) {
    const from2 = chat.frames.length;
    chat.send({ type: 'chat.send', sessionId: id, content: 'x' });
    const error = await chat.waitFor((f) => f.kind === 'protocol_error', 5000, from2);
    assert.is(error.code, 'SESSION_NOT_FOUND', id);
  }
  await chat.close();
  const check = openDatabase(gw.h.dbPath);
  assert.ok(createSqliteSessionStore(check).getSession(sessionId), 'the sessions table is intact');
  check.close();
});

test('plugin-name injection (../, %2F, %2e%2e, unicode, NUL, nesting) → 4400 through the real router, no lookup', async ({ gw, lookups }) => {
  const names = [
    '/plugin-ws/..', '/plugin-ws/../ws', '/plugin-ws/a/../echo', '/plugin-ws/./echo', '/plugin-ws/%2e%2e', '/plugin-ws/%2e%2e/ws',
    '/plugin-ws/..%2Fws', '/plugin-ws/a%2Fb', '/plugin-ws/%2F', '/plugin-ws/caf%C3%A9', '/plugin-ws/%00', '/plugin-ws/echo%00',
    '/plugin-ws/echo/', '/plugin-ws//echo', '/plugin-ws/', '/plugin-ws/e%63ho', '/plugin-ws/ech%6F',
  ];
  for (const path of names) {
    assert.equal(await rawUpgradeCloseStatus(gw.h.port, `${path}?token=${TOKEN}`), { code: 4400, reason: 'Invalid plugin name' }, path);
  }
  assert.equal(lookups, [], 'the registry never saw an invalid name');
  // The valid name still works.
  const plugin = await connect(gw.h.url, '/plugin-ws/echo');
  plugin.send({ kind: 'hello' });
  await plugin.waitFor((f) => f.kind === 'hello');
  await plugin.close();
  assert.equal(lookups, ['echo']);
});

test('an oversize frame closes /shell and /plugin-ws with 1009 too', async ({ gw }) => {
  for (const path of ['/shell', '/plugin-ws/echo']) {
    const client = await connect(gw.h.url, path);
    client.sendRaw('x'.repeat(gw.h.gateway.limits.maxPayloadBytes + 1));
    assert.is((await client.waitForClose()).code, 1009, path);
  }
});

test('inbound rate limit on every route: the documented burst passes, a flood closes 1008 Rate limit', async ({ gw }) => {
  const { rateLimitBurst, rateLimitPerSecond } = gw.h.gateway.limits;
  assert.equal([rateLimitPerSecond, rateLimitBurst], [200, 400], 'the documented defaults');
  for (const path of ROUTES) {
    const client = await connect(gw.h.url, path);
    const frame = path === '/ws' ? JSON.stringify({ type: 'chat.unsubscribe', sessions: [] }) : JSON.stringify({ type: 'resize-nothing' });
    // The whole burst at once stays within the limit.
    for (let i = 0; i < rateLimitBurst - 10; i++) client.ws.send(frame);
    // Round trip: everything above has been taken from the bucket.
    if (path === '/ws') {
      client.send({ type: 'chat.abort', sessionId: 'sync' });
      await client.waitFor((f) => f.code === 'NO_ACTIVE_RUN');
    } else {
      await new Promise((resolve) => client.ws.ping(undefined, undefined, () => client.ws.once('pong', resolve)));
    }
    assert.is(client.ws.readyState, WebSocket.OPEN, `${path}: the burst passed`);
    for (let i = 0; i < rateLimitBurst * 2 && client.ws.readyState === WebSocket.OPEN; i++) client.ws.send(frame);
    const closed = await client.waitForClose();
    assert.equal(closed, { code: 1008, reason: 'Rate limit' }, path);
  }
});

test('sustained traffic below the documented rate is never cut', async ({ gw }) => {
  const client = await connect(gw.h.url);
  const frame = JSON.stringify({ type: 'chat.unsubscribe', sessions: [] });
  // 100 frames per 0.5 s = 200/s minus the refill margin of a loaded machine: the bucket's burst covers the jitter.
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 80; i++) client.ws.send(frame);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  client.send({ type: 'chat.abort', sessionId: 'still-here' });
  await client.waitFor((f) => f.code === 'NO_ACTIVE_RUN');
  assert.is(client.ws.readyState, WebSocket.OPEN);
  await client.close();
});

test('permessage-deflate is never negotiated, on any route', async ({ gw }) => {
  for (const path of ROUTES) {
    const ws = new WebSocket(`${gw.h.url}${path}?token=${TOKEN}`, { perMessageDeflate: { clientNoContextTakeover: true } });
    const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
      ws.once('upgrade', (response) => resolve(response.headers));
      ws.once('error', reject);
    });
    await new Promise((resolve) => (ws.readyState === WebSocket.OPEN ? resolve(undefined) : ws.once('open', resolve)));
    assert.is(headers['sec-websocket-extensions'], undefined, path);
    assert.is(ws.extensions, '', path);
    ws.close();
  }
});

test('chat.permission-response cannot resolve a request of a session the socket is not subscribed to', async ({ gw, runtime }) => {
  const sessionId = gw.h.createSession();
  const owner = await connect(gw.h.url);
  owner.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'permission_request', requestId: 'req-sec', toolName: 'Bash', input: {} });
  await owner.waitFor((f) => f.kind === 'permission_request');
  const attempts: TestClient[] = [];
  // Subscribed, then unsubscribed.
  const left = await connect(gw.h.url);
  left.send({ type: 'chat.subscribe', sessions: [{ sessionId }] });
  await left.waitFor((f) => f.kind === 'chat_subscribed');
  left.send({ type: 'chat.unsubscribe', sessions: [sessionId] });
  attempts.push(left);
  // Tried chat.send on the session (RUN_IN_PROGRESS) without ever subscribing.
  const sender = await connect(gw.h.url);
  sender.send({ type: 'chat.send', sessionId, content: 'me too' });
  await sender.waitFor((f) => f.code === 'RUN_IN_PROGRESS');
  attempts.push(sender);
  // Subscribed to another session; and a reconnect of a socket that had been subscribed.
  const other = await connect(gw.h.url);
  other.send({ type: 'chat.subscribe', sessions: [{ sessionId: 'another-session' }] });
  await other.waitFor((f) => f.kind === 'chat_subscribed');
  attempts.push(other);
  const before = await connect(gw.h.url);
  before.send({ type: 'chat.subscribe', sessions: [{ sessionId }] });
  await before.waitFor((f) => f.kind === 'chat_subscribed');
  await before.close();
  attempts.push(await connect(gw.h.url));
  for (const attacker of attempts) {
    const from = attacker.frames.length;
    attacker.send({ type: 'chat.permission-response', requestId: 'req-sec', allow: true, updatedInput: { command: 'rm -rf /' } });
    const error = await attacker.waitFor((f) => f.kind === 'protocol_error', 5000, from);
    assert.is(error.code, 'UNKNOWN_PERMISSION_REQUEST');
  }
  assert.equal(runtime.approvals, [], 'nobody but a subscriber resolved it');
  owner.send({ type: 'chat.permission-response', requestId: 'req-sec', allow: false });
  await waitUntil(() => runtime.approvals.length === 1, 'the owner resolves it');
  run.resolve();
  for (const client of [owner, ...attempts]) await client.close();
});

/** The CLI's startup banner, line by line (gateway/app/standalone.ts prints it; this run has no --inspect). */
const BANNER_LINES = [
  /^agent-gateway listening on http:\/\/\S+$/,
  /^ {2}token: {2}\S+$/,
  /^ {2}playground: http:\/\/\S+\/\?token=\S+$/,
  /^ {2}chat: {3}ws:\/\/\S+\/ws\?token=<token>$/,
  /^ {2}shell: {2}ws:\/\/\S+\/shell\?token=<token>$/,
  /^ {2}REST: {3}POST http:\/\/\S+\/api\/providers\/sessions {2}\(Authorization: Bearer <token>\)$/,
  /^ {2}data: {3}\S.*$/,
];

/**
 * Splits the CLI's output into its banner and its log lines, by line and format rather than by
 * arrival time (the banner's lines may reach the test in several chunks). The banner is the one
 * block of BANNER_LINES in stdout: its lines are written by consecutive synchronous calls, so no
 * other line can come between them. Every other line of stdout and stderr is log output.
 */
function classifyCliOutput(stdout: string, stderr: string): { banner: string[]; logLines: string[] } {
  const lines = stdout.split('\n');
  const starts = lines.flatMap((line, i) => (BANNER_LINES[0].test(line) ? [i] : []));
  assert.is(starts.length, 1, 'exactly one banner');
  const banner = lines.slice(starts[0], starts[0] + BANNER_LINES.length);
  BANNER_LINES.forEach((format, i) => assert.match(banner[i] ?? '(missing)', format, `banner line ${i + 1}`));
  const rest = [...lines.slice(0, starts[0]), ...lines.slice(starts[0] + BANNER_LINES.length), ...stderr.split('\n')];
  return { banner, logLines: rest.filter((line) => line !== '') };
}

test('the CLI: deny-listed secrets absent from the PTY environment; tokens never in its logs', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-sec-'));
  const secret = 'gw-secret-7f3a9c1d2e';
  const jwt = 'jwt-secret-5b8e2a4c6d';
  const wrong = 'wrong-token-9d7c5b3a1f';
  let cli: CliChild | null = null;
  try {
    cli = await startCliWith(['--port', '0', '--data-dir', dataDir, '--log-level', 'debug', '--demo-pace-ms', '0'], {
      env: { GATEWAY_TOKEN: secret, JWT_SECRET: jwt },
    });
    const base = wsUrl(cli);
    // The shell's own environment.
    const shell = await connect(base, '/shell', secret);
    shell.send({ type: 'init', projectPath: dataDir, isPlainShell: true, initialCommand: 'env; echo ENV-DONE' });
    await shell.waitFor(() => shell.frames.map((f) => String(f.data ?? '')).join('').includes('ENV-DONE'), 10_000);
    const env = shell.frames.map((f) => String(f.data ?? '')).join('');
    assert.ok(env.includes('TERM=xterm-256color'), 'env ran');
    assert.not.ok(env.includes(secret), 'GATEWAY_TOKEN not inherited');
    assert.not.ok(env.includes(jwt), 'JWT_SECRET not inherited');
    await shell.close();
    // Everything that logs around tokens: good and bad upgrades on every route, REST, unknown paths.
    const sessionId = await createCliSession(cli, dataDir);
    const chat = await connect(base, '/ws', secret);
    chat.send({ type: 'chat.send', sessionId, content: 'hello /no-tool' });
    await chat.waitFor((f) => f.kind === 'complete', 10_000);
    await chat.close();
    for (const path of ['/ws', '/shell', '/plugin-ws/none', '/nowhere', '/plugin-ws/..']) {
      await statusOf(connect(base, path, wrong));
      await statusOf(connect(base, path, secret));
      await statusOf(connect(base, path, null, { Authorization: `Bearer ${wrong}` }));
    }
    await fetch(`${cli.url}/api/providers/sessions/running`, { headers: { authorization: `Bearer ${wrong}` } });
    await fetch(`${cli.url}/api/providers/sessions/running?token=${secret}`, { headers: { authorization: `Bearer ${secret}` } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { banner, logLines } = classifyCliOutput(cli.stdout(), cli.stderr());
    // The banner prints the token on purpose, on exactly these two lines.
    assert.equal(banner.filter((line) => line.includes(secret)).map((line) => line.trim().split(':')[0]), ['token', 'playground']);
    assert.ok(logLines.some((line) => /^\[agent-gateway\] WARN .*refused/.test(line)), 'the refusals were logged');
    assert.equal(logLines.filter((line) => line.includes(secret)), [], 'the token is in no log line');
    assert.equal(logLines.filter((line) => line.includes(wrong)), [], 'a presented token is in no log line either');
  } finally {
    cli?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
