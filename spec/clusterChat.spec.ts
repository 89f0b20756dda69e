/**
 * A gateway cluster on real processes: one real `redis-server` (AOF on) and three real CLI nodes
 * with `--redis`. Chat across nodes: viewers on other nodes, reconnects that land elsewhere, sends
 * racing on two nodes, abort and approval from another node, `kill -9` of the running node, a
 * Redis restart mid-run, and a reconnect storm spread over the nodes. docs/CLUSTER.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, until, type Frame, type TestClient } from './support/chatHarness.js';
import { startCli, type CliChild } from './support/cliProcess.js';
import { startRedis, type RedisServer } from './support/redisServer.js';

const TOKEN = 'cluster-spec-token';
/** Short, so a lost node's run is taken over within the spec's patience (the default is 10 s). */
const LEASE_MS = 1500;

interface Node {
  name: string;
  cli: CliChild;
  dataDir: string;
  ws: string;
}

let redis: RedisServer;
const nodes: Node[] = [];
const clients: TestClient[] = [];

async function startNode(name: string, paceMs = 15): Promise<Node> {
  const dataDir = mkdtempSync(join(tmpdir(), `ag-cluster-${name}-`));
  const cli = await startCli(
    ['--port', '0', '--data-dir', dataDir, '--redis', redis.url, '--node-id', name, '--demo-pace-ms', String(paceMs), '--log-level', 'error', '--run-lease-ms', String(LEASE_MS), '--workspace-root', tmpdir()],
    { GATEWAY_TOKEN: TOKEN },
  );
  const node = { name, cli, dataDir, ws: cli.url.replace('http', 'ws') };
  nodes.push(node);
  return node;
}

async function client(node: Node): Promise<TestClient> {
  const c = await connect(node.ws, '/ws', TOKEN);
  clients.push(c);
  return c;
}

async function createSession(node: Node): Promise<string> {
  const response = await fetch(`${node.cli.url}/api/providers/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'demo', projectPath: tmpdir() }),
  });
  assert.is(response.status, 201, 'session created');
  return ((await response.json()) as { sessionId: string }).sessionId;
}

const sequenced = (c: TestClient, sessionId: string): Frame[] => c.frames.filter((f) => f.sessionId === sessionId && typeof f.seq === 'number');

/** The seqs a client got for a session: each once, in order, with no gap from `from`. */
function assertGapless(c: TestClient, sessionId: string, from: number, what: string): number[] {
  const seqs = sequenced(c, sessionId).map((f) => f.seq as number);
  assert.equal(seqs, seqs.map((_, i) => from + i), `${what}: gapless from ${from}, each once (${seqs.join(',')})`);
  return seqs;
}

const completes = (c: TestClient, sessionId: string) => sequenced(c, sessionId).filter((f) => f.kind === 'complete');

test.before(async () => {
  redis = await startRedis({ appendonly: true });
  await Promise.all([startNode('node-a'), startNode('node-b'), startNode('node-c')]);
});

test.after(async () => {
  for (const c of clients) c.ws.terminate();
  for (const node of nodes) node.cli.child.kill('SIGKILL');
  await Promise.all(nodes.map((node) => node.cli.exited));
  for (const node of nodes) rmSync(node.dataDir, { recursive: true, force: true });
  await redis.stop();
});

test('a run on node A is watched from B, approved from B, resumed on C with lastSeq: every frame once, in order', async () => {
  const [a, b, c] = nodes;
  const sessionId = await createSession(a);
  // Known to every node.
  const listed = await fetch(`${c.cli.url}/api/providers/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.ok(((await listed.json()) as { sessions: Array<{ sessionId: string }> }).sessions.some((s) => s.sessionId === sessionId));

  const viewer = await client(b);
  viewer.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  await viewer.waitFor((f) => f.kind === 'chat_subscribed' && f.sessionId === sessionId);

  const sender = await client(a);
  sender.send({ type: 'chat.send', sessionId, content: 'list the files' });
  const request = await viewer.waitFor((f) => f.kind === 'permission_request' && f.sessionId === sessionId, 15_000);

  // A tab opened on C mid-run is told the run is running, and which approval waits.
  const late = await client(c);
  late.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  const ack = await late.waitFor((f) => f.kind === 'chat_subscribed' && f.sessionId === sessionId);
  assert.is(ack.isProcessing, true, 'C sees the run running');
  assert.ok((ack.pendingPermissions as Array<{ requestId: string }>).some((p) => p.requestId === request.requestId), 'C lists the approval');
  const running = (await (await fetch(`${c.cli.url}/api/providers/sessions/running`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Array<{ sessionId: string }>;
  assert.ok(running.some((r) => r.sessionId === sessionId), 'running runs are cluster-wide');

  // A reconnect that lands on C with what it had (the run waits for its approval meanwhile).
  const had = sequenced(viewer, sessionId).length - 3;
  const resumed = await client(c);
  resumed.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: had }] });
  await resumed.waitFor((f) => f.kind === 'chat_subscribed' && f.sessionId === sessionId);

  // The approval answered on B reaches the run on A.
  viewer.send({ type: 'chat.permission-response', requestId: request.requestId, allow: true });
  await viewer.waitFor((f) => f.kind === 'tool_result' && f.sessionId === sessionId, 15_000);

  for (const watcher of [sender, viewer, resumed, late]) {
    await watcher.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 20_000);
  }
  const all = assertGapless(sender, sessionId, 1, 'sender on A');
  assertGapless(viewer, sessionId, 1, 'viewer on B');
  assertGapless(resumed, sessionId, had + 1, 'reconnect on C');
  assertGapless(late, sessionId, 1, 'late tab on C (the run from its first frame)');
  for (const watcher of [sender, viewer, resumed, late]) assert.is(completes(watcher, sessionId).length, 1, 'one complete');
  assert.is(completes(viewer, sessionId)[0].success, true);
  // The same frames, byte for byte, on every node.
  const texts = (w: TestClient) => sequenced(w, sessionId).map((f) => JSON.stringify(f));
  assert.equal(texts(viewer), texts(sender));
  assert.ok(all.length > 10);
});

test('two sends racing on two nodes start exactly one run', async () => {
  const [a, b] = nodes;
  const sessionId = await createSession(b);
  const onA = await client(a);
  const onB = await client(b);
  onA.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  onB.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  await onA.waitFor((f) => f.kind === 'chat_subscribed');
  await onB.waitFor((f) => f.kind === 'chat_subscribed');
  onA.send({ type: 'chat.send', sessionId, content: 'race /no-tool' });
  onB.send({ type: 'chat.send', sessionId, content: 'race /no-tool' });
  await onA.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 20_000);
  await onB.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 20_000);
  const refusals = [...onA.frames, ...onB.frames].filter((f) => f.kind === 'protocol_error' && f.code === 'RUN_IN_PROGRESS');
  assert.is(refusals.length, 1, 'one of the two sends is refused');
  const runIds = new Set(sequenced(onA, sessionId).map((f) => f.runId));
  assert.is(runIds.size, 1, 'one run');
  assertGapless(onA, sessionId, 1, 'A');
  assertGapless(onB, sessionId, 1, 'B');
});

test('an abort sent on node C stops the run node B executes', async () => {
  const [, b, c] = nodes;
  const sessionId = await createSession(c);
  const runner = await client(b);
  const aborter = await client(c);
  aborter.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  await aborter.waitFor((f) => f.kind === 'chat_subscribed');
  runner.send({ type: 'chat.send', sessionId, content: 'a long answer /no-tool' });
  await aborter.waitFor((f) => f.kind === 'stream_delta' && f.sessionId === sessionId, 15_000);
  aborter.send({ type: 'chat.abort', sessionId });
  const complete = await aborter.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 15_000);
  assert.is(complete.aborted, true, 'aborted from another node');
  await runner.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 5000);
  assertGapless(aborter, sessionId, 1, 'aborter');
  assert.not.ok(aborter.frames.some((f) => f.kind === 'protocol_error'), 'no error');
});

test('kill -9 of the running node: another node ends the run with one node_lost complete, and the next run goes on from it', async () => {
  // A node of its own, slow enough to be killed mid-stream.
  const doomed = await startNode('node-d', 60);
  const [a, b] = nodes;
  const sessionId = await createSession(a);
  const viewerB = await client(b);
  const viewerA = await client(a);
  for (const v of [viewerA, viewerB]) {
    v.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
    await v.waitFor((f) => f.kind === 'chat_subscribed');
  }
  const sender = await client(doomed);
  sender.send({ type: 'chat.send', sessionId, content: 'long /no-tool' });
  await viewerB.waitFor((f) => f.kind === 'stream_delta' && f.sessionId === sessionId, 15_000);
  await until(() => sequenced(viewerB, sessionId).length >= 5, 10_000, 'a few frames');
  const killedAt = Date.now();
  doomed.cli.child.kill('SIGKILL');
  await doomed.cli.exited;

  for (const v of [viewerA, viewerB]) {
    const complete = await v.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, LEASE_MS * 4 + 5000);
    assert.is(complete.reason, 'node_lost');
    assert.is(complete.success, false);
    assert.is(complete.exitCode, 1);
  }
  const tookMs = Date.now() - killedAt;
  assert.ok(tookMs < LEASE_MS * 3, `taken over within the lease time and a sweep (${tookMs} ms)`);
  assertGapless(viewerA, sessionId, 1, 'viewer on A');
  assertGapless(viewerB, sessionId, 1, 'viewer on B');
  assert.is(completes(viewerB, sessionId).length, 1, 'exactly one complete');
  assert.equal(sequenced(viewerA, sessionId).map((f) => f.seq), sequenced(viewerB, sessionId).map((f) => f.seq));

  // The session is free again; its next run continues the seq.
  const lastSeq = sequenced(viewerB, sessionId).at(-1)!.seq as number;
  viewerB.send({ type: 'chat.send', sessionId, content: 'again /no-tool' });
  await viewerA.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId && (f.seq as number) > lastSeq, 20_000);
  assertGapless(viewerA, sessionId, 1, 'viewer on A after the next run');
  assert.is(completes(viewerA, sessionId).length, 2);
});

test('Redis restarted mid-run (AOF on): the nodes reconnect and the run finishes with nothing lost or repeated', async () => {
  const [a, b] = nodes;
  const sessionId = await createSession(a);
  const viewer = await client(b);
  viewer.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  await viewer.waitFor((f) => f.kind === 'chat_subscribed');
  const sender = await client(a);
  sender.send({ type: 'chat.send', sessionId, content: 'survive a restart /no-tool' });
  await viewer.waitFor((f) => f.kind === 'stream_delta' && f.sessionId === sessionId, 15_000);
  await redis.restart();
  await sender.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 30_000);
  await viewer.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 30_000);
  assertGapless(sender, sessionId, 1, 'sender');
  assertGapless(viewer, sessionId, 1, 'viewer across the restart');
  const health = await (await fetch(`${b.cli.url}/healthz`)).json();
  assert.is((health as { status: string }).status, 'ok', 'healthy again');
});

test('a reconnect storm spread over the nodes: each tab gets exactly what it missed', async () => {
  const live = nodes.filter((node) => node.cli.child.exitCode === null && node.cli.child.signalCode === null);
  const sessionId = await createSession(live[0]);
  const sender = await client(live[0]);
  sender.send({ type: 'chat.send', sessionId, content: 'storm /no-tool' });
  await sender.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId, 20_000);
  const total = sequenced(sender, sessionId).length;
  const storm: Array<{ tab: TestClient; from: number }> = [];
  for (let i = 0; i < 60; i++) {
    const node = live[i % live.length];
    const tab = await client(node);
    const lastSeq = i % total;
    tab.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq }] });
    storm.push({ tab, from: lastSeq + 1 });
  }
  await until(() => storm.every(({ tab }) => tab.frames.some((f) => f.kind === 'chat_subscribed')), 15_000, 'every ack');
  for (const { tab, from } of storm) {
    if (from - 1 === 0) continue; // a fresh tab of an idle session is replayed nothing
    await until(() => sequenced(tab, sessionId).length === total - from + 1, 15_000, `tab from ${from}`);
    assertGapless(tab, sessionId, from, `tab from ${from}`);
  }
});

test.run();
