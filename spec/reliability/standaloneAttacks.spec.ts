/**
 * Attacks on the standalone server from outside, on real processes: the real `startStandalone`
 * on 127.0.0.1 port 0 with its SQLite file in a temp dir, or the real CLI as a child process.
 * Each test is the regression of one defect an outside attack found (RELIABILITY.md, "Bugs found
 * and fixed"): unbounded sessions and disk over REST, 500 + ERROR for a request target that does
 * not parse, half-sent requests held for Node's default timeouts.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { DEFAULT_LIMITS } from '../../gateway/config.js';
import { parseCliOptions, type CliOptions } from '../../gateway/app/cli/options.js';
import { DATABASE_FILE_NAME, STANDALONE_HTTP_TIMEOUTS, startStandalone, type Standalone, type StandaloneHooks } from '../../gateway/app/standalone.js';
import { openDatabase } from '../../persistence/database.js';
import { connect } from '../support/chatHarness.js';
import { startCli, type CliChild } from '../support/cliProcess.js';

const TOKEN = 'standalone-attack-token-4c2e9a';
const SESSIONS = '/api/providers/sessions';
const UPGRADE_HEADERS =
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

const test = suite('reliability: attacks on the standalone server');

interface Running {
  standalone: Standalone;
  dataDir: string;
  /** The workspace root: sessions' projects go below it. */
  workspace: string;
  close(): Promise<void>;
}

async function startServer(hooks: StandaloneHooks = {}): Promise<Running> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-attack-'));
  // The workspace: sessions' projects are directories under it (the data dir holds its own files).
  const workspace = join(dataDir, 'projects');
  mkdirSync(workspace);
  const parsed = parseCliOptions(['--port', '0', '--data-dir', dataDir, '--log-level', 'silent', '--demo-pace-ms', '0', '--workspace-root', workspace], { GATEWAY_TOKEN: TOKEN });
  if ('help' in parsed) throw new Error('unexpected --help');
  const standalone = await startStandalone(parsed as CliOptions, () => {}, hooks);
  return {
    standalone,
    dataDir,
    workspace,
    async close() {
      await standalone.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function postSession(base: string, body: unknown): Promise<Response> {
  return fetch(`${base}${SESSIONS}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Bytes of every file in the data dir (the SQLite file, its WAL and shared memory, the token). */
function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

function storedSessions(dataDir: string): number {
  const database = openDatabase(join(dataDir, DATABASE_FILE_NAME));
  try {
    return (database.sqlite.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n;
  } finally {
    database.close();
  }
}

/** Sends `text` on a fresh TCP connection and collects everything until the server closes it. */
function rawExchange(port: number, text: string, boundMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => socket.write(text));
    let received = '';
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${boundMs} ms for ${JSON.stringify(text.slice(0, 40))}; got ${JSON.stringify(received)}`));
    }, boundMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(guard);
      resolve(received);
    });
  });
}

const statusLine = (response: string) => response.split('\r\n')[0];

interface HalfOpen {
  socket: Socket;
  received: string;
  closedAt: number | null;
}

/** Opens `count` connections that each send `prefix(i)` and then nothing more. */
async function openHalfSent(port: number, count: number, prefix: (i: number) => string): Promise<HalfOpen[]> {
  const opened = Array.from({ length: count }, (_, i) => {
    const entry: HalfOpen = { socket: connectTcp(port, '127.0.0.1'), received: '', closedAt: null };
    entry.socket.setEncoding('latin1');
    entry.socket.on('data', (chunk: string) => (entry.received += chunk));
    entry.socket.on('error', () => {});
    entry.socket.on('close', () => (entry.closedAt = Date.now()));
    return new Promise<HalfOpen>((resolve) => entry.socket.once('connect', () => {
      entry.socket.write(prefix(i));
      resolve(entry);
    }));
  });
  return Promise.all(opened);
}

async function waitAllClosed(entries: HalfOpen[], boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (entries.some((e) => e.closedAt === null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/** Half a request line, or a request line and some headers without the blank line that ends them. */
const halfRequest = (i: number) =>
  i % 2 === 0 ? `GET /ws?token=${TOKEN.slice(0, 6)}` : `GET /ws?token=${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n${UPGRADE_HEADERS.slice(0, 30)}`;

// ---- 1. sessions and disk ----

test('POST sessions: projectPath over maxProjectPathBytes (PATH_MAX) is 400 PROJECT_PATH_TOO_LONG; a flood of 60 KB paths stores nothing', async () => {
  const server = await startServer();
  try {
    const base = server.standalone.url;
    const limit = DEFAULT_LIMITS.maxProjectPathBytes;
    assert.is(limit, 4096, 'the documented default');
    // A path of exactly PATH_MAX bytes is still a path the OS could be given: not refused for its
    // length (it is then checked against the workspace like any other).
    const atLimit = await postSession(base, { provider: 'demo', projectPath: `/${'p'.repeat(limit - 1)}` });
    assert.is(atLimit.status, 400);
    assert.is(((await atLimit.json()) as { code: string }).code, 'PROJECT_PATH_OUTSIDE_WORKSPACE');
    for (const projectPath of [`/${'p'.repeat(limit)}`, `/${'é'.repeat(limit / 2)}`, 'x'.repeat(60_000)]) {
      const refused = await postSession(base, { provider: 'demo', projectPath });
      assert.is(refused.status, 400, `${projectPath.length} characters, ${Buffer.byteLength(projectPath)} bytes`);
      const body = (await refused.json()) as { error: string; code: string };
      assert.is(body.code, 'PROJECT_PATH_TOO_LONG');
      assert.match(body.error, /projectPath/);
      assert.match(body.error, /4096/);
    }
    // The attack, bounded: 200 sessions with 60 KB projectPaths (the outside run sent 2 000 and grew the dir by 110 MB).
    const before = dirBytes(server.dataDir);
    const big = 'x'.repeat(60_000);
    const statuses: number[] = [];
    for (let round = 0; round < 20; round++) {
      const answers = await Promise.all(Array.from({ length: 10 }, () => postSession(base, { provider: 'demo', projectPath: `/${round}${big}` })));
      for (const answer of answers) {
        statuses.push(answer.status);
        await answer.arrayBuffer();
      }
    }
    assert.equal([...new Set(statuses)], [400], 'every one refused');
    assert.is(storedSessions(server.dataDir), 0, 'nothing is stored');
    const grown = dirBytes(server.dataDir) - before;
    assert.ok(grown < 256 * 1024, `the data dir grew by ${grown} bytes`);
  } finally {
    await server.close();
  }
});

test('POST sessions: beyond maxStoredSessions → 507 { error, code: MAX_STORED_SESSIONS }, exact under a concurrent burst', async () => {
  assert.is(DEFAULT_LIMITS.maxStoredSessions, 10_000, 'the documented default');
  const defaults = await startServer();
  try {
    assert.is(defaults.standalone.gateway.limits.maxStoredSessions, DEFAULT_LIMITS.maxStoredSessions, 'the standalone runs with the default');
  } finally {
    await defaults.close();
  }
  const cap = 25;
  const server = await startServer({ limits: { maxStoredSessions: cap } });
  try {
    const base = server.standalone.url;
    const projects = Array.from({ length: 61 }, (_, i) => join(server.workspace, `project-${i}`));
    for (const project of projects) mkdirSync(project);
    const answers = await Promise.all(projects.slice(0, 60).map((projectPath) => postSession(base, { provider: 'demo', projectPath })));
    const bodies = await Promise.all(answers.map(async (answer) => ({ status: answer.status, body: (await answer.json()) as Record<string, unknown> })));
    const created = bodies.filter((b) => b.status === 201);
    const refused = bodies.filter((b) => b.status !== 201);
    assert.is(created.length, cap, 'exactly the cap is created');
    assert.ok(refused.every((b) => b.status === 507), `refusals are 507: ${[...new Set(refused.map((b) => b.status))].join(',')}`);
    for (const { body } of refused) {
      assert.is(body.code, 'MAX_STORED_SESSIONS');
      assert.match(String(body.error), /maxStoredSessions/);
      assert.match(String(body.error), new RegExp(`\\b${cap}\\b`));
    }
    assert.is(storedSessions(server.dataDir), cap, 'the table holds the cap, no more');
    // Stored sessions still serve; a later POST is still refused.
    const first = String(created[0].body.sessionId);
    const read = await fetch(`${base}${SESSIONS}/${first}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.is(read.status, 200);
    assert.is((await postSession(base, { provider: 'demo', projectPath: projects[60] })).status, 507);
    // Validation still comes first: a bad body is 400 whatever the count.
    assert.is((await postSession(base, { provider: 'demo', projectPath: 'x'.repeat(5000) })).status, 400);
  } finally {
    await server.close();
  }
});

// ---- 2. request targets that do not parse ----

test('the CLI: a request target that does not parse → 400 on plain and upgrade requests, before authentication, no error logged', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-attack-cli-'));
  let cli: CliChild | null = null;
  try {
    cli = await startCli(['--port', '0', '--data-dir', dataDir, '--log-level', 'debug', '--demo-pace-ms', '0'], { GATEWAY_TOKEN: TOKEN });
    const targets = ['http://[::1/ws', `http://[::1/ws?token=${TOKEN}`, '//[::1/ws', `//[::1/shell?token=${TOKEN}`, 'http://[::1/api/providers/sessions', '//[::1/'];
    for (const target of targets) {
      const upgrade = await rawExchange(cli.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${UPGRADE_HEADERS}\r\n`);
      assert.is(statusLine(upgrade), 'HTTP/1.1 400 Bad Request', `upgrade ${target}`);
      for (const method of ['GET', 'POST', 'HEAD']) {
        const plain = await rawExchange(cli.port, `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        assert.is(statusLine(plain), 'HTTP/1.1 400 Bad Request', `${method} ${target}`);
      }
    }
    // Targets that parse are untouched: a good upgrade opens, /healthz answers.
    const client = await connect(cli.url.replace(/^http/, 'ws'), '/ws', TOKEN);
    await client.close();
    assert.is((await fetch(`${cli.url}/healthz`)).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const lines = cli.output().split('\n');
    assert.equal(lines.filter((line) => /\bERROR\b|Upgrade failed/.test(line)), [], 'no error line');
    assert.ok(lines.some((line) => line.includes('malformed request target')), 'the refusal is logged (as a warning)');
  } finally {
    cli?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

// ---- 3. half-sent requests ----

test('half-sent requests are closed after headersTimeoutMs (shortened here); an open socket outlives every HTTP timeout', async () => {
  const timeouts = { headersTimeoutMs: 600, requestTimeoutMs: 1000, connectionsCheckingIntervalMs: 100 };
  const server = await startServer({ httpTimeouts: timeouts });
  try {
    const { port, url } = server.standalone;
    const chat = await connect(url.replace(/^http/, 'ws'), '/ws', TOKEN);
    const started = Date.now();
    const half = await openHalfSent(port, 20, halfRequest);
    const bound = timeouts.headersTimeoutMs + timeouts.connectionsCheckingIntervalMs + 1000;
    await waitAllClosed(half, bound);
    const open = half.filter((e) => e.closedAt === null).length;
    for (const entry of half) entry.socket.destroy();
    assert.is(open, 0, `${open} of ${half.length} half-sent requests still open after ${bound} ms`);
    const slowest = Math.max(...half.map((e) => (e.closedAt ?? 0) - started));
    assert.ok(slowest >= timeouts.headersTimeoutMs - 50, `not closed before the timeout (${slowest} ms)`);
    assert.ok(half.every((e) => e.received === '' || e.received.startsWith('HTTP/1.1 408')), 'answered 408 if at all');
    // The upgraded socket is past every HTTP timeout and still served.
    await new Promise((resolve) => setTimeout(resolve, timeouts.requestTimeoutMs + 2 * timeouts.connectionsCheckingIntervalMs));
    const from = chat.frames.length;
    chat.send({ type: 'chat.abort', sessionId: 'still-open' });
    await chat.waitFor((f) => f.code === 'NO_ACTIVE_RUN', 5000, from);
    await chat.close();
  } finally {
    await server.close();
  }
});

test('the CLI closes 20 half-sent upgrade requests within its default headers timeout', async () => {
  const { headersTimeoutMs, connectionsCheckingIntervalMs } = STANDALONE_HTTP_TIMEOUTS;
  assert.is(headersTimeoutMs, 10_000, 'the documented default');
  const dataDir = mkdtempSync(join(tmpdir(), 'ag-attack-cli-'));
  let cli: CliChild | null = null;
  let half: HalfOpen[] = [];
  try {
    cli = await startCli(['--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--demo-pace-ms', '0'], { GATEWAY_TOKEN: TOKEN });
    const started = Date.now();
    half = await openHalfSent(cli.port, 20, halfRequest);
    // Node's defaults (60 s, checked every 30 s) held them 70–100 s.
    const bound = headersTimeoutMs + connectionsCheckingIntervalMs + 2000;
    await waitAllClosed(half, bound);
    const open = half.filter((e) => e.closedAt === null).length;
    assert.is(open, 0, `${open} of ${half.length} still open after ${bound} ms`);
    const times = half.map((e) => (e.closedAt ?? 0) - started);
    assert.ok(Math.min(...times) >= headersTimeoutMs - 100, `closed at ${Math.min(...times)}–${Math.max(...times)} ms`);
  } finally {
    for (const entry of half) entry.socket.destroy();
    cli?.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
