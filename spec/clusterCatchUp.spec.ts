/**
 * Two gateway nodes in this process on one real `redis-server`, with small bounds so the edges
 * are reached quickly: a viewer on node B that stops reading while node A's run streams far past
 * B's in-memory copy of the log is caught up from Redis when it reads again (nothing missing,
 * no gap notice), and tabs that subscribe in the same turn on one node each get their answer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { createWebSocketServer, type GatewayHandle } from '../gateway/createWebSocketServer.js';
import { silentLogger } from '../gateway/logger.js';
import type { ClusterBackend } from '../persistence/cluster/types.js';
import { openRedisCluster } from '../persistence/redis/redisCluster.js';
import { connect, createScriptedRuntime, until, type ScriptedRuntime, type TestClient } from './support/chatHarness.js';
import { startRedis, type RedisServer } from './support/redisServer.js';

/** Events of a session each node keeps in memory: the viewer falls far behind it. */
const TAIL_EVENTS = 40;
const EVENTS = 600;

interface Node {
  cluster: ClusterBackend;
  runtime: ScriptedRuntime;
  gateway: GatewayHandle;
  server: Server;
  url: string;
}

let redis: RedisServer;
const nodes: Node[] = [];
const clients: TestClient[] = [];

async function startNode(nodeId: string): Promise<Node> {
  const cluster = await openRedisCluster({ url: redis.url, nodeId, leaseMs: 2000, maxEventsPerSession: 5000, maxBytesPerSession: 16 * 1024 * 1024, tailEvents: TAIL_EVENTS });
  const runtime = createScriptedRuntime(['scripted']);
  const server = createServer();
  const gateway = createWebSocketServer(server, {
    verifyClient: { authenticateWebSocket: () => ({ id: 'user' }) },
    chat: { runtime },
    cluster,
    // A small high-water mark: a socket that stops reading lags after a few frames.
    limits: { replayTailEvents: TAIL_EVENTS, subscriberHighWaterMarkBytes: 8 * 1024, subscriberLowWaterMarkBytes: 2 * 1024 },
    logger: silentLogger,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const node = { cluster, runtime, gateway, server, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}` };
  nodes.push(node);
  return node;
}

async function client(node: Node): Promise<TestClient> {
  const c = await connect(node.url, '/ws');
  clients.push(c);
  return c;
}

const seqsOf = (c: TestClient, sessionId: string) => c.frames.filter((f) => f.sessionId === sessionId && typeof f.seq === 'number').map((f) => f.seq as number);

test.before(async () => {
  redis = await startRedis();
  await startNode('a');
  await startNode('b');
});

test.after(async () => {
  for (const c of clients) c.ws.terminate();
  for (const node of nodes) {
    await node.gateway.close();
    await node.cluster.close();
    node.server.closeAllConnections();
    await new Promise((resolve) => node.server.close(resolve));
  }
  await redis.stop();
});

test('a viewer on B that stopped reading is caught up from Redis, past B\'s copy of the log', async () => {
  const [a, b] = nodes;
  const { sessionId } = await a.cluster.sessions.createSession({ provider: 'scripted', projectPath: null });
  const viewer = await client(b);
  viewer.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  await viewer.waitFor((f) => f.kind === 'chat_subscribed');
  // The viewer's TCP socket stops being read: B's buffer for it fills and the pair lags.
  const transport = (viewer.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  transport.pause();

  const sender = await client(a);
  sender.send({ type: 'chat.send', sessionId, content: 'stream' });
  const run = await a.runtime.nextRun();
  for (let i = 0; i < EVENTS; i++) {
    run.writer.send({ kind: 'stream_delta', content: `${i} ${'x'.repeat(200)}` });
    if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
  }
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await sender.waitFor((f) => f.kind === 'complete', 10_000);
  const total = seqsOf(sender, sessionId).length;
  assert.ok(total > EVENTS, 'the run is far longer than the tail kept in memory');

  transport.resume();
  await viewer.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 15_000);
  const seqs = seqsOf(viewer, sessionId);
  const breaks = seqs.map((seq, i) => [i === 0 ? 0 : seqs[i - 1], seq]).filter(([before, seq]) => seq !== before + 1);
  assert.equal(breaks, [], `every frame once, in order (breaks: ${JSON.stringify(breaks)}; notices: ${JSON.stringify(viewer.frames.filter((f) => f.kind === 'chat_subscribed'))})`);
  assert.is(seqs.length, total);
  assert.not.ok(viewer.frames.some((f) => f.kind === 'chat_subscribed' && f.gap === true), 'no gap notice: Redis still holds every event');
});

test('ten tabs subscribing in the same turn on one node each get their answer and the run', async () => {
  const [a, b] = nodes;
  const { sessionId } = await b.cluster.sessions.createSession({ provider: 'scripted', projectPath: null });
  const tabs = await Promise.all(Array.from({ length: 10 }, () => client(b)));
  for (const tab of tabs) tab.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  await until(() => tabs.every((tab) => tab.frames.some((f) => f.kind === 'chat_subscribed')), 5000, 'every ack');
  const sender = await client(a);
  sender.send({ type: 'chat.send', sessionId, content: 'hello' });
  const run = await a.runtime.nextRun();
  for (let i = 0; i < 5; i++) run.writer.send({ kind: 'text', content: `t${i}` });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  for (const tab of tabs) await tab.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 10_000);
  for (const tab of tabs) assert.equal(seqsOf(tab, sessionId), [1, 2, 3, 4, 5, 6]);
});

test.run();
