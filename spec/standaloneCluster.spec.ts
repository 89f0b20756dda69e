/**
 * [cluster] Two real `agent-gateway` processes on one real Redis (`--redis`, the same
 * GATEWAY_TOKEN): sessions are the cluster's over REST (created on one node, listed, read and
 * deleted on the other; DELETE refused while a run of the session is unfinished on any node),
 * `/shell` PTYs stay on their node (an `init` on the other node is told which node holds it),
 * `/healthz` says `degraded` and names the backend once Redis is gone, and a `--redis` that is
 * wrong fails the start with a clear message. Chat over `/ws` across nodes is covered elsewhere.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { SHELL_ERRORS } from '../machines/protocolCodes.js';
import type { ClusterBackend } from '../persistence/cluster/types.js';
import { openRedisCluster } from '../persistence/redis/redisCluster.js';
import { startCli, type CliChild } from './support/cliProcess.js';
import { startRedis, type RedisServer } from './support/redisServer.js';
import { ShellTestClient } from './support/shellClient.js';

const BARE_BASH = "PS1='$ ' exec bash --norc --noprofile";
const TOKEN = randomBytes(24).toString('base64url');

interface Node {
  cli: CliChild;
  dataDir: string;
  get(route: string, method?: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

const dirs: string[] = [];
const tempDir = (prefix: string) => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  dirs.push(dir);
  return dir;
};
const workspace = tempDir('ag-cluster-ws-');

let redis: RedisServer;
const nodes: Node[] = [];

async function startNode(nodeId: string, redisUrl: string): Promise<Node> {
  const dataDir = tempDir('ag-cluster-data-');
  const cli = await startCli(
    ['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--redis', redisUrl, '--node-id', nodeId, '--log-level', 'error', '--workspace-root', workspace],
    { GATEWAY_TOKEN: TOKEN },
  );
  const node: Node = {
    cli,
    dataDir,
    async get(route, method = 'GET', body) {
      const res = await fetch(`${cli.url}${route}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text === '' ? null : JSON.parse(text) };
    },
  };
  nodes.push(node);
  return node;
}

/** Polls `check` until it returns a truthy value. */
async function eventually<T>(check: () => Promise<T> | T, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let node1: Node;
let node2: Node;

test.before(async () => {
  redis = await startRedis();
  [node1, node2] = await Promise.all([startNode('node-1', redis.url), startNode('node-2', redis.url)]);
});

test.after(async () => {
  for (const node of nodes) {
    node.cli.child.kill('SIGKILL');
    await node.cli.exited;
  }
  await redis.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

test('each node says it is a cluster node: the backend without its password, no SQLite file, the token hint', async () => {
  for (const [node, id] of [[node1, 'node-1'], [node2, 'node-2']] as const) {
    // startCli returns at the first lines of the banner: wait for the rest.
    const out = await eventually(() => (node.cli.stdout().includes('workspace:') ? node.cli.stdout() : null), 'the whole banner');
    assert.ok(out.includes(`data:   redis ${redis.url}/  (node ${id}; --node-id)`) || out.includes(`data:   redis ${redis.url}  (node ${id}; --node-id)`), out);
    assert.match(out, /every node must be started with this same GATEWAY_TOKEN/);
    assert.match(out, /\/shell terminals stay on the node that started them/);
    assert.is(node.cli.token, TOKEN);
    assert.not.ok(fs.existsSync(path.join(node.dataDir, 'agent-gateway.sqlite')), 'no SQLite file in cluster mode');
  }
});

test('a session created on node 1 is listed, fetched and read on node 2, and deleted there for both', async () => {
  const created = await node1.get('/api/providers/sessions', 'POST', { provider: 'demo', projectPath: workspace });
  assert.is(created.status, 201);
  const { sessionId } = created.body as { sessionId: string };

  const listed = await node2.get('/api/providers/sessions');
  assert.is(listed.status, 200);
  const row = (listed.body as { sessions: Array<Record<string, unknown>> }).sessions.find((session) => session.sessionId === sessionId);
  assert.ok(row, 'node 2 lists it');
  assert.equal({ provider: row.provider, projectPath: row.projectPath, running: row.running, latestSeq: row.latestSeq }, { provider: 'demo', projectPath: workspace, running: false, latestSeq: 0 });
  assert.match(String(row.createdAt), /^\d{4}-\d\d-\d\dT/);

  const one = await node2.get(`/api/providers/sessions/${sessionId}`);
  assert.equal(one, { status: 200, body: { sessionId, provider: 'demo', projectPath: workspace } });
  const history = await node2.get(`/api/providers/sessions/${sessionId}/messages`);
  assert.equal(history, { status: 200, body: { messages: [], hasMore: false, oldestSeq: 0, latestSeq: 0 } });
  assert.is((await node2.get('/api/providers/sessions/no-such-session/messages')).status, 404);
  assert.is((await node2.get('/api/providers/sessions?before=not-a-cursor')).status, 400, 'a foreign cursor is still a 400');

  const deleted = await node2.get(`/api/providers/sessions/${sessionId}`, 'DELETE');
  assert.is(deleted.status, 204);
  assert.is((await node1.get(`/api/providers/sessions/${sessionId}`)).status, 404, 'gone on node 1 too');
  const after = (await node1.get('/api/providers/sessions')).body as { sessions: Array<{ sessionId: string }> };
  assert.not.ok(after.sessions.some((session) => session.sessionId === sessionId));
  assert.is((await node1.get(`/api/providers/sessions/${sessionId}`, 'DELETE')).status, 404);
});

test("a run unfinished on any node: listed running everywhere with its node, and DELETE is 409 until it is over", async () => {
  const created = await node1.get('/api/providers/sessions', 'POST', { provider: 'demo', projectPath: workspace });
  const { sessionId } = created.body as { sessionId: string };
  // A third node holds the run: the REST nodes learn it only through the backend.
  const other: ClusterBackend = await openRedisCluster({ url: redis.url, nodeId: 'node-3', maxEventsPerSession: 100, maxBytesPerSession: 1 << 20, tailEvents: 10 });
  try {
    const startedAt = Date.now();
    const acquired = await other.runs.acquire(sessionId, { runId: 'run-1', provider: 'demo', startedAt });
    assert.is(acquired.outcome, 'acquired');
    for (const node of [node1, node2]) {
      const running = await node.get('/api/providers/sessions/running');
      assert.equal(running, { status: 200, body: [{ sessionId, provider: 'demo', startedAt, lastSeq: 0, nodeId: 'node-3' }] });
      const listed = (await node.get('/api/providers/sessions')).body as { sessions: Array<{ sessionId: string; running: boolean }> };
      assert.is(listed.sessions.find((session) => session.sessionId === sessionId)?.running, true);
    }
    const refused = await node2.get(`/api/providers/sessions/${sessionId}`, 'DELETE');
    assert.equal(refused, { status: 409, body: { error: 'The session has a run in progress; abort it first (chat.abort)', code: 'RUN_IN_PROGRESS' } });
    assert.is((await node1.get(`/api/providers/sessions/${sessionId}`)).status, 200, 'nothing was deleted');

    await other.runs.release(sessionId);
    assert.equal((await node2.get('/api/providers/sessions/running')).body, []);
    assert.is((await node2.get(`/api/providers/sessions/${sessionId}`, 'DELETE')).status, 204);
  } finally {
    await other.close();
  }
});

test('/api/actors and /healthz name the node', async () => {
  for (const [node, id] of [[node1, 'node-1'], [node2, 'node-2']] as const) {
    const actors = await node.get('/api/actors');
    assert.is(actors.status, 200);
    assert.is((actors.body as { nodeId: string }).nodeId, id);
    const health = (await fetch(`${node.cli.url}/healthz`).then((res) => res.json())) as Record<string, unknown>;
    assert.is(health.status, 'ok');
    assert.equal(health.cluster, { nodeId: id, backend: { backend: 'redis', connected: true, lastError: null } });
  }
});

test('/shell: an init on node 2 for a terminal that lives on node 1 is told so, and starts nothing there', async () => {
  const wsUrl = (node: Node) => `${node.cli.url.replace('http', 'ws')}/shell?token=${encodeURIComponent(TOKEN)}`;
  const init = { projectPath: workspace, sessionId: 'term-1', isPlainShell: true, initialCommand: BARE_BASH };
  const owner = await ShellTestClient.connect(wsUrl(node1));
  const visitor = await ShellTestClient.connect(wsUrl(node2));
  try {
    owner.init(init);
    await owner.waitForOutput('$ ');
    owner.input('echo on-node-$((0+1))\r');
    await owner.waitForOutput('on-node-1');

    visitor.init(init);
    const frame = (await visitor.waitForFrame('error', undefined, 10_000)) as Record<string, unknown>;
    assert.equal(frame, { type: 'error', message: `${SHELL_ERRORS.SHELL_ON_OTHER_NODE}: node-1`, code: 'SHELL_ON_OTHER_NODE', nodeId: 'node-1' });
    assert.not.ok(visitor.output.includes('Starting terminal'), 'no PTY was started on node 2');
    const actors2 = (await node2.get('/api/actors')).body as { shell: unknown[] };
    assert.equal(actors2.shell, [], 'node 2 holds no PTY');
    const actors1 = (await node1.get('/api/actors')).body as { shell: Array<{ state: string }> };
    assert.is(actors1.shell.length, 1);

    // Another key is free: node 2 starts it (the socket stayed usable).
    visitor.init({ ...init, sessionId: 'term-2' });
    await visitor.waitForOutput('$ ');
    // Node 1 reconnecting to its own PTY asks nobody and reattaches.
    const again = await ShellTestClient.connect(wsUrl(node1));
    again.init(init);
    await again.waitForOutput('[Reconnected to existing session]');
    await again.close();
  } finally {
    await owner.close();
    await visitor.close();
  }
});

test('a --redis that is not Redis, or a Redis nobody answers at, fails the start clearly (no stack, no password)', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, GATEWAY_TOKEN: TOKEN };
  delete env.npm_lifecycle_event;
  const dataDir = tempDir('ag-cluster-bad-');
  const run = (redisUrl: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'gateway/app/cli.ts', '--port', '0', '--data-dir', dataDir, '--redis', redisUrl, '--log-level', 'silent', '--workspace-root', workspace], {
      encoding: 'utf8',
      timeout: 60_000,
      env,
    });
  const notRedis = run('http://user:hunter2@127.0.0.1:6379');
  assert.is(notRedis.status, 2);
  assert.match(notRedis.stderr, /--redis expects a redis:\/\/ or rediss:\/\/ URL/);
  assert.not.ok(notRedis.stderr.includes('hunter2'));

  // A port nobody listens on (taken from the OS, then released).
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const nobody = run(`redis://:hunter2@127.0.0.1:${port}`);
  assert.is(nobody.status, 1, nobody.stderr);
  assert.match(nobody.stderr, new RegExp(`^agent-gateway: could not start: cannot open the Redis backend at redis://127\\.0\\.0\\.1:${port}/? \\(--redis\\): `));
  assert.not.ok(nobody.stderr.includes('hunter2'), nobody.stderr);
  assert.not.match(nobody.stderr, /^\s+at /m, 'no stack trace');
  assert.not.ok(fs.existsSync(path.join(dataDir, 'agent-gateway.sqlite')));
});

test('/healthz is degraded, naming the backend, once Redis is gone; ok again when it is back', async () => {
  await redis.kill();
  for (const [node, id] of [[node1, 'node-1'], [node2, 'node-2']] as const) {
    const health = await eventually(async () => {
      const res = await fetch(`${node.cli.url}/healthz`);
      const body = (await res.json()) as { status: string; cluster: { nodeId: string; backend: { backend: string; connected: boolean; lastError: string | null } } };
      return res.status === 200 && body.status === 'degraded' ? body : null;
    }, `${id} degraded`);
    assert.is(health.cluster.nodeId, id);
    assert.is(health.cluster.backend.backend, 'redis');
    assert.is(health.cluster.backend.connected, false);
    assert.ok(health.cluster.backend.lastError === null || typeof health.cluster.backend.lastError === 'string');
  }
  await redis.restart();
  for (const node of [node1, node2]) {
    await eventually(async () => ((await fetch(`${node.cli.url}/healthz`).then((res) => res.json())) as { status: string }).status === 'ok', 'ok again', 30_000);
  }
});

test.run();
