/**
 * A cluster node cut from Redis (a TCP relay between that node and Redis is cut; the other node
 * still reaches it), on real processes: the cut node turns degraded and refuses sends with
 * BACKEND_UNAVAILABLE; its run is taken over by the other node (`node_lost`), and the cut node
 * stops it rather than race (its viewers are told to reload); once the link is back, the cut
 * node's late writes are refused by the fence, and the session goes on from the takeover.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, until, type Frame, type TestClient } from './support/chatHarness.js';
import { startCli, type CliChild } from './support/cliProcess.js';
import { startRedis, type RedisServer } from './support/redisServer.js';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy.js';

const TOKEN = 'cluster-partition-token';
const LEASE_MS = 1200;

let redis: RedisServer;
let relay: TcpProxy;
const children: CliChild[] = [];
const dirs: string[] = [];
const clients: TestClient[] = [];

async function startNode(name: string, redisUrl: string): Promise<CliChild> {
  const dataDir = mkdtempSync(join(tmpdir(), `ag-partition-${name}-`));
  dirs.push(dataDir);
  const cli = await startCli(
    ['--port', '0', '--data-dir', dataDir, '--redis', redisUrl, '--node-id', name, '--demo-pace-ms', '40', '--log-level', 'error', '--run-lease-ms', String(LEASE_MS), '--workspace-root', tmpdir()],
    { GATEWAY_TOKEN: TOKEN },
  );
  children.push(cli);
  return cli;
}

async function client(cli: CliChild): Promise<TestClient> {
  const c = await connect(cli.url.replace('http', 'ws'), '/ws', TOKEN);
  clients.push(c);
  return c;
}

const sequenced = (c: TestClient, sessionId: string): Frame[] => c.frames.filter((f) => f.sessionId === sessionId && typeof f.seq === 'number');
const health = async (cli: CliChild) => (await (await fetch(`${cli.url}/healthz`)).json()) as { status: string; cluster?: { backend: { connected: boolean } } };

test.after(async () => {
  for (const c of clients) c.ws.terminate();
  for (const cli of children) cli.child.kill('SIGKILL');
  await Promise.all(children.map((cli) => cli.exited));
  await relay?.close();
  await redis?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('a node cut from Redis: degraded, BACKEND_UNAVAILABLE, its run taken over and stopped there, fenced when back', async () => {
  redis = await startRedis({ appendonly: true });
  relay = await startTcpProxy(redis.port);
  const cutNode = await startNode('node-cut', relay.url('redis'));
  const other = await startNode('node-other', redis.url);

  const created = await fetch(`${other.url}/api/providers/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'demo', projectPath: tmpdir() }),
  });
  const { sessionId } = (await created.json()) as { sessionId: string };
  const spare = (await (
    await fetch(`${other.url}/api/providers/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'demo', projectPath: tmpdir() }),
    })
  ).json()) as { sessionId: string };

  const viewer = await client(other);
  viewer.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  await viewer.waitFor((f) => f.kind === 'chat_subscribed');
  const sender = await client(cutNode);
  sender.send({ type: 'chat.send', sessionId, content: 'a long answer /no-tool' });
  await until(() => sequenced(viewer, sessionId).length >= 4, 15_000, 'the run streams to the other node');

  relay.cut();
  // The cut node knows it: degraded, and a send is refused without starting anything.
  let cutHealth = await health(cutNode);
  for (let i = 0; i < 50 && cutHealth.status !== 'degraded'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    cutHealth = await health(cutNode);
  }
  assert.is(cutHealth.status, 'degraded');
  assert.is(cutHealth.cluster?.backend.connected, false);
  const refused = await client(cutNode);
  refused.send({ type: 'chat.send', sessionId: spare.sessionId, content: 'hello /no-tool' });
  const error = await refused.waitFor((f) => f.kind === 'protocol_error', 10_000);
  assert.is(error.code, 'BACKEND_UNAVAILABLE');
  assert.is((await health(other)).status, 'ok', 'the other node is fine');

  // The other node takes the run over within the lease (and a sweep) and ends it once.
  const complete = await viewer.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, LEASE_MS * 4 + 5000);
  assert.is(complete.reason, 'node_lost');
  const seqs = sequenced(viewer, sessionId).map((f) => f.seq as number);
  assert.equal(seqs, seqs.map((_, i) => i + 1), 'gapless on the other node');

  // The cut node stopped the run instead of racing: its own viewer is told to reload.
  const notice = await sender.waitFor((f) => f.kind === 'chat_subscribed' && f.gap === true && f.sessionId === sessionId, LEASE_MS * 4 + 5000);
  assert.ok(notice, 'the cut node\'s viewer gets the gap notice');

  // Back: the cut node's late writes were refused (nothing after the takeover's complete), and
  // the session goes on from it on either node.
  relay.restore();
  for (let i = 0; i < 100 && (await health(cutNode)).status !== 'ok'; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  assert.is((await health(cutNode)).status, 'ok', 'healthy again');
  await new Promise((resolve) => setTimeout(resolve, LEASE_MS));
  const history = (await (
    await fetch(`${other.url}/api/providers/sessions/${sessionId}/messages?limit=1000`, { headers: { authorization: `Bearer ${TOKEN}` } })
  ).json()) as { messages?: Frame[]; events?: Frame[] };
  const logged = (history.messages ?? history.events ?? []) as Frame[];
  const last = logged.at(-1);
  assert.is(last?.kind, 'complete', 'the log ends with the takeover\'s complete');
  assert.is(last?.reason, 'node_lost');
  assert.equal(logged.map((f) => f.seq), logged.map((_, i) => i + 1), 'the log is gapless');

  const again = await client(cutNode);
  again.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: last?.seq as number }] });
  await again.waitFor((f) => f.kind === 'chat_subscribed' && f.sessionId === sessionId);
  again.send({ type: 'chat.send', sessionId, content: 'after the partition /no-tool' });
  const next = await viewer.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId && (f.seq as number) > (last?.seq as number), 20_000);
  assert.is(next.success, true);
  const all = sequenced(viewer, sessionId).map((f) => f.seq as number);
  assert.equal(all, all.map((_, i) => i + 1), 'the next run continues the seq');
});

test.run();
