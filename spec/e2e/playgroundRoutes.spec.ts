/**
 * What the playground needs from the standalone server, without a browser: its files from a
 * fixed allow-list (right content types, nothing else reachable), the token-protected
 * GET /api/actors and GET /api/config, and the playground URL in the startup output.
 */
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { parseCliOptions, type CliOptions } from '../../gateway/app/cli/options.js';
import { STATIC_ASSETS } from '../../gateway/app/cli/static.js';
import { protocolCodesModuleSource } from '../../machines/protocolCodes.js';
import { startStandalone, type Standalone } from '../../gateway/app/standalone.js';
import { connect, type Frame, type TestClient } from '../support/chatHarness.js';

const TOKEN = 'playground-routes-token';
const dataDir = mkdtempSync(join(tmpdir(), 'ag-playground-'));
const printed: string[] = [];
let server: Standalone | null = null;

async function gateway(): Promise<Standalone> {
  if (server) return server;
  const options = parseCliOptions(['--port', '0', '--data-dir', dataDir, '--log-level', 'silent', '--demo-pace-ms', '0', '--workspace-root', dataDir], { GATEWAY_TOKEN: TOKEN });
  server = await startStandalone(options as CliOptions, (line) => printed.push(line));
  return server;
}

test.after(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A raw request: fetch would normalize `..` away before it reached the server. */
function get(path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(server!.url);
    const req = http.request({ host: url.hostname, port: url.port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const auth = { authorization: `Bearer ${TOKEN}` };

test('the startup output prints the playground URL with the token', async () => {
  const { url } = await gateway();
  assert.ok(printed.includes(`  playground: ${url}/?token=${TOKEN}`), printed.join('\n'));
});

test('every allow-listed path is served with its content type; the page has a strict policy', async () => {
  await gateway();
  const expected: Record<string, RegExp> = { html: /^text\/html; charset=utf-8$/, js: /^text\/javascript; charset=utf-8$/, css: /^text\/css; charset=utf-8$/ };
  for (const [path, asset] of Object.entries(STATIC_ASSETS)) {
    const res = await get(path);
    assert.is(res.status, 200, path);
    assert.match(String(res.headers['content-type']), expected[asset.type], path);
    assert.is(res.headers['x-content-type-options'], 'nosniff', path);
    assert.is(res.headers['referrer-policy'], 'no-referrer', path);
    assert.ok(res.body.length > 0, `${path} has a body`);
    assert.is(Number(res.headers['content-length']), Buffer.byteLength(res.body), path);
  }
  const page = await get('/');
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  assert.match(String(page.headers['content-security-policy']), /connect-src 'self'/);
  const codes = await get('/codes.js');
  assert.is(codes.body, protocolCodesModuleSource(), "/codes.js is the gateway's own code table");
  assert.match(codes.body, /export const PROJECT_PATH_ERRORS = /);
  const xterm = await get('/vendor/xterm/xterm.mjs');
  assert.ok(xterm.body.includes('export{'), 'the ESM build of @xterm/xterm');
  const head = await get('/app.js', 'HEAD');
  assert.is(head.status, 200);
  assert.is(head.body, '');
  const post = await get('/', 'POST');
  assert.is(post.status, 405);
  assert.is(post.headers.allow, 'GET, HEAD');
});

test('every file the page loads (HTML links, JS imports) is on the allow-list', async () => {
  await gateway();
  const html = (await get('/')).body;
  const wanted = new Set([...html.matchAll(/(?:src|href)="(\/[^"]*)"/g)].map((m) => m[1]));
  const scripts = Object.keys(STATIC_ASSETS).filter((path) => path.endsWith('.js'));
  for (const script of scripts) {
    const body = (await get(script)).body;
    for (const m of body.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) wanted.add(new URL(m[1], `http://x${script}`).pathname);
  }
  assert.ok(wanted.has('/app.js') && wanted.has('/vendor/xterm/xterm.mjs') && wanted.has('/chatClient.js'), [...wanted].join(' '));
  for (const path of wanted) assert.is((await get(path)).status, 200, `${path} is served`);
});

test('nothing outside the allow-list is reachable: no traversal, no directory, no other case', async () => {
  await gateway();
  const packageName = JSON.parse(readFileSync('package.json', 'utf8')).name as string;
  for (const path of [
    '/../package.json',
    '/vendor/xterm/../../package.json',
    '/%2e%2e/package.json',
    '/.%2e/.%2e/package.json',
    '/vendor/xterm/%2e%2e%2f%2e%2e%2fpackage.json',
    '/vendor/xterm/',
    '/vendor/xterm/lib/xterm.js',
    '/vendor/xterm/package.json',
    '/gateway/playground/app.js',
    '/playground/app.js',
    '/APP.JS',
    '/app.js/',
    '/app.js%00.html',
    '//etc/passwd',
    '/token',
    '/data/token',
  ]) {
    const res = await get(path);
    assert.is(res.status, 404, path);
    assert.not.ok(res.body.includes(TOKEN) || res.body.includes(`"name": "${packageName}"`), `${path} leaks nothing`);
  }
});

test('GET /api/actors needs the token and lists live chat and shell actors with their states', async () => {
  const gw = await gateway();
  assert.is((await get('/api/actors')).status, 401);
  assert.is((await get('/api/actors', 'GET', { authorization: 'Bearer wrong' })).status, 401);
  assert.is((await get('/api/config')).status, 401);
  const config = JSON.parse((await get('/api/config', 'GET', auth)).body) as { defaultProjectPath: string; providers: string[]; workspaceRoots: string[] };
  const root = realpathSync(dataDir);
  assert.is(config.defaultProjectPath, root, 'the start directory is outside the only root: the form gets the root');
  assert.ok(config.providers.includes('demo'));
  assert.equal(config.workspaceRoots, [root]);
  assert.is((await get('/api/actors', 'POST', auth)).status, 405);

  const created = await fetch(`${gw.url}/api/providers/sessions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'demo', projectPath: dataDir }),
  });
  const { sessionId } = (await created.json()) as { sessionId: string };
  const wsUrl = gw.url.replace('http', 'ws');
  const clients: TestClient[] = [];
  try {
    const chat = await connect(wsUrl, '/ws', TOKEN);
    clients.push(chat);
    chat.send({ type: 'chat.send', sessionId, content: 'hello' });
    await chat.waitFor((f: Frame) => f.kind === 'permission_request', 10_000);
    type Actors = { chat: Array<{ sessionId: string; state: string; seq: number; subscribers: number }>; shell: Array<{ key: string; state: string; viewers: number }> };
    const actors = async () => JSON.parse((await get('/api/actors', 'GET', auth)).body) as Actors;
    const running = (await actors()).chat.find((a) => a.sessionId === sessionId);
    assert.ok(running, 'the session is listed');
    assert.is(running!.state, 'running');
    assert.is(running!.subscribers, 1);
    assert.ok(running!.seq > 0);

    const shell = await connect(wsUrl, '/shell', TOKEN);
    clients.push(shell);
    shell.send({ type: 'init', projectPath: dataDir, sessionId: 'routes-shell', hasSession: false, provider: 'plain-shell', cols: 80, rows: 24, initialCommand: 'cat', isPlainShell: true });
    await shell.waitFor((f: Frame) => f.type === 'output', 10_000);
    const listed = async (state: string) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const found = (await actors()).shell.find((a) => a.key.includes('"routes-shell"') && a.state === state);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no shell actor in state ${state}: ${JSON.stringify(await actors())}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    assert.is((await listed('running')).viewers, 1);
    await shell.close();
    assert.is((await listed('detached')).viewers, 0);
  } finally {
    for (const client of clients) await client.close();
  }
});

test.run();
