/**
 * [cluster] The deployment docs/CLUSTER.md describes, for real: one `redis-server`, three CLI nodes
 * with `--redis`, and Debian's nginx in front of them running docs/nginx.cluster.conf (its
 * placeholders filled with free 127.0.0.1 ports and a temp directory). Everything goes through
 * nginx: REST and `/ws` round-robin over the nodes, so the sockets of one session are spread over
 * all three and each still gets every frame of a run once, in order; `/shell` is sticky by client,
 * so reconnecting to a terminal reaches the node that holds it (never SHELL_ON_OTHER_NODE).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, until, type Frame, type TestClient } from './support/chatHarness.js';
import { startCli, type CliChild } from './support/cliProcess.js';
import { killOnExit, removeOnExit } from './support/exitCleanup.js';
import { freePort, startRedis, type RedisServer } from './support/redisServer.js';
import { ShellTestClient } from './support/shellClient.js';

const NGINX = '/usr/sbin/nginx';
const TEMPLATE_URL = new URL('../docs/nginx.cluster.conf', import.meta.url);
const CLUSTER_DOC_URL = new URL('../docs/CLUSTER.md', import.meta.url);
const TOKEN = randomBytes(18).toString('base64url');
const BARE_BASH = "PS1='$ ' exec bash --norc --noprofile";
/** How long nginx may take to answer /healthz through to a node. */
const NGINX_START_TIMEOUT_MS = 10_000;
const NGINX_STOP_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 3;
const CHAT_SOCKETS = 6;

interface Nginx {
  child: ChildProcess;
  port: number;
  exited: Promise<void>;
  output(): string;
}

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  dirs.push(dir);
  removeOnExit(dir);
  return dir;
};
const workspace = tempDir('ag-nginx-ws-');

let redis: RedisServer;
const nodes: CliChild[] = [];
let nginx: Nginx | null = null;
const clients: TestClient[] = [];
const shells: ShellTestClient[] = [];

/** The template with its placeholders filled; every placeholder must be known. */
function renderConfig(template: string, values: Record<string, string>): string {
  const text = template.replace(/@([A-Z0-9_]+)@/g, (whole, name: string) => {
    if (!(name in values)) throw new Error(`docs/nginx.cluster.conf: unknown placeholder ${whole}`);
    return values[name];
  });
  return text;
}

async function startNginx(upstreams: string[]): Promise<Nginx> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: this spec needs Debian's nginx (apt-get install -y nginx-light)`);
  const dir = tempDir('ag-nginx-');
  // When the spec runs as root, nginx's workers run as nobody: they must reach the temp paths.
  chmodSync(dir, 0o755);
  const template = readFileSync(TEMPLATE_URL, 'utf8');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configPath = join(dir, 'nginx.conf');
    writeFileSync(
      configPath,
      renderConfig(template, { LISTEN: `127.0.0.1:${port}`, NODE_1: upstreams[0], NODE_2: upstreams[1], NODE_3: upstreams[2], TEMP: dir }),
    );
    const child = spawn(NGINX, ['-p', `${dir}/`, '-c', configPath, '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; error_log stderr;`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    killOnExit(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let gone = false;
    const exited = new Promise<void>((resolve) => child.once('exit', () => ((gone = true), resolve())));
    const started: Nginx = { child, port, exited, output: () => output };
    const deadline = Date.now() + NGINX_START_TIMEOUT_MS;
    while (!gone && Date.now() < deadline) {
      const status = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0);
      if (status === 200) return started;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGKILL');
    await exited;
    if (!/Address already in use/.test(output) || attempt >= PORT_ATTEMPTS) throw new Error(`nginx did not start:\n${output}`);
  }
}

async function stopNginx(): Promise<void> {
  if (!nginx) return;
  const { child, exited } = nginx;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), NGINX_STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  nginx = null;
}

const viaNginx = (path: string) => `http://127.0.0.1:${nginx!.port}${path}`;
const auth = { authorization: `Bearer ${TOKEN}` };

async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(viaNginx(path), {
    method,
    headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

interface ActorsAnswer {
  nodeId: string;
  chat: Array<{ sessionId: string; subscribers: number }>;
  shell: unknown[];
}

/** `/api/actors` through nginx until every node has answered once (round-robin: three calls, usually). */
async function actorsOfEveryNode(): Promise<Map<string, ActorsAnswer>> {
  const seen = new Map<string, ActorsAnswer>();
  for (let i = 0; i < 12 && seen.size < nodes.length; i++) {
    const { status, body } = await rest('GET', '/api/actors');
    assert.is(status, 200);
    const answer = body as unknown as ActorsAnswer;
    seen.set(answer.nodeId, answer);
  }
  return seen;
}

test.before(async () => {
  redis = await startRedis({ appendonly: true });
  const started = await Promise.allSettled(
    ['node-1', 'node-2', 'node-3'].map(async (name) => {
      const dataDir = tempDir(`ag-nginx-${name}-`);
      const cli = await startCli(
        ['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--redis', redis.url, '--node-id', name, '--demo-pace-ms', '2', '--log-level', 'error', '--workspace-root', workspace],
        { GATEWAY_TOKEN: TOKEN },
      );
      nodes.push(cli);
      killOnExit(cli.child);
      return cli;
    }),
  );
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
  nginx = await startNginx(nodes.map((node) => `127.0.0.1:${node.port}`));
});

test.after(async () => {
  for (const c of clients) c.ws.terminate();
  for (const s of shells) s.ws.terminate();
  await stopNginx();
  for (const node of nodes) node.child.kill('SIGKILL');
  await Promise.all(nodes.map((node) => node.exited));
  await redis?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('docs/CLUSTER.md shows exactly the config this spec runs', () => {
  const doc = readFileSync(CLUSTER_DOC_URL, 'utf8');
  const section = doc.slice(doc.indexOf('## Deployment behind nginx'));
  assert.ok(section.length > 0 && doc.includes('## Deployment behind nginx'), 'the section exists');
  const block = /```nginx\n([\s\S]*?)```/.exec(section);
  assert.ok(block, 'the section has an nginx block');
  assert.is(block![1], readFileSync(TEMPLATE_URL, 'utf8'), 'the block is docs/nginx.cluster.conf, byte for byte');
});

test('through nginx: REST and /ws round-robin over the nodes, and every socket gets every frame of a run once, in order', async () => {
  const created = await rest('POST', '/api/providers/sessions', { provider: 'demo', projectPath: workspace });
  assert.is(created.status, 201, 'session created');
  const sessionId = created.body.sessionId as string;

  const ws = `ws://127.0.0.1:${nginx!.port}`;
  for (let i = 0; i < CHAT_SOCKETS; i++) {
    // One of them as a browser would open it: its Origin must match the Host nginx passes on.
    const headers: Record<string, string> = i === 1 ? { origin: `http://127.0.0.1:${nginx!.port}` } : {};
    const c = await connect(ws, '/ws', TOKEN, headers);
    clients.push(c);
    c.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
    await c.waitFor((f) => f.kind === 'chat_subscribed' && f.sessionId === sessionId, 10_000);
  }
  const sockets = clients.slice(-CHAT_SOCKETS);

  sockets[0].send({ type: 'chat.send', sessionId, content: 'through nginx /no-tool' });
  for (const c of sockets) await c.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 20_000);
  // A second complete would follow the first closely.
  await new Promise((resolve) => setTimeout(resolve, 200));

  const sequenced = (c: TestClient): Frame[] => c.frames.filter((f) => f.sessionId === sessionId && typeof f.seq === 'number');
  const reference = sequenced(sockets[0]);
  assert.ok(reference.length > 10, `a whole run (${reference.length} frames)`);
  for (const [i, c] of sockets.entries()) {
    const seqs = sequenced(c).map((f) => f.seq as number);
    assert.equal(seqs, seqs.map((_, n) => n + 1), `socket ${i}: each seq once, in order (${seqs.join(',')})`);
    assert.is(sequenced(c).filter((f) => f.kind === 'complete').length, 1, `socket ${i}: one complete`);
    assert.equal(sequenced(c).map((f) => JSON.stringify(f)), reference.map((f) => JSON.stringify(f)), `socket ${i}: the same frames`);
    assert.not.ok(c.frames.some((f) => f.kind === 'protocol_error'), `socket ${i}: no error`);
  }
  assert.is(reference.at(-1)!.success, true);

  // Round-robin put the sockets on every node (an idle session's actors are listed once it has run).
  const byNode = await actorsOfEveryNode();
  assert.is(byNode.size, 3, `every node answered (${[...byNode.keys()].join(', ')})`);
  const subscribersOn = [...byNode.values()].map((answer) => answer.chat.find((actor) => actor.sessionId === sessionId)?.subscribers ?? 0);
  assert.is(subscribersOn.reduce((a, b) => a + b, 0), CHAT_SOCKETS, `every socket is subscribed somewhere (${subscribersOn.join('/')})`);
  assert.ok(subscribersOn.every((n) => n > 0), `the sockets are spread over all three nodes (${subscribersOn.join('/')})`);
});

test('through nginx: /shell is sticky, so every reconnect reaches the node holding the terminal', async () => {
  const url = `ws://127.0.0.1:${nginx!.port}/shell?token=${encodeURIComponent(TOKEN)}`;
  const init = { projectPath: workspace, sessionId: 'nginx-term', isPlainShell: true, initialCommand: BARE_BASH };
  const owner = await ShellTestClient.connect(url);
  shells.push(owner);
  owner.init(init);
  await owner.waitForOutput('$ ', 10_000);
  owner.input('echo sticky-$((6*7))\r');
  await owner.waitForOutput('sticky-42', 10_000);

  // Round-robin would send two of every three of these to a node without the PTY.
  for (let i = 0; i < 4; i++) {
    const again = await ShellTestClient.connect(url);
    shells.push(again);
    again.init(init);
    await again.waitForOutput('[Reconnected to existing session]', 10_000);
    assert.not.ok(again.frames.some((frame) => frame.type === 'error'), `reconnect ${i}: no error (${JSON.stringify(again.frames.filter((f) => f.type === 'error'))})`);
    again.input(`echo again-${i}-$((1+1))\r`);
    await owner.waitForOutput(`again-${i}-2`, 10_000);
    await again.close();
  }

  const byNode = await actorsOfEveryNode();
  const holders = [...byNode.values()].filter((answer) => answer.shell.length > 0).map((answer) => answer.nodeId);
  assert.is(holders.length, 1, `one node holds the terminal (${holders.join(', ')})`);
  await owner.close();
});

test.run();
