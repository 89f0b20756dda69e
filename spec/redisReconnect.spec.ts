/**
 * [cluster] The Redis backend when Redis goes away: a restart (AOF, fsync always) loses nothing
 * and repeats nothing (the writer retries its backlog in order, `whenWritten` waits for it, the
 * readers resume from their mirrors); a lease is given up after the lease time when Redis is
 * killed; calls reject at once while it is down; the unwritten backlog is bounded; a Redis that
 * cannot be reached fails the start with a clear error that carries no password.
 */

import { Redis } from 'ioredis';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import type { ClusterBackend } from '../persistence/cluster/types.js';
import { MAX_UNWRITTEN_EVENTS, OPEN_TIMEOUT_MS, openRedisCluster } from '../persistence/redis/redisCluster.js';
import type { LoggedEvent } from '../persistence/types.js';
import { redisNodes, sleep, until as untilWithin, type Node } from './support/redisNodes.js';
import { freePort, type RedisServer } from './support/redisServer.js';

let redis: RedisServer;
const nodes = redisNodes({ letter: 'r', defaults: { maxEventsPerSession: 100_000, maxBytesPerSession: 64 * 1024 * 1024 } });
const { twoNodes } = nodes;
/** `until`, 5 s by default: a restarted Redis takes a while to answer again. */
const until = (what: string, check: () => boolean, timeoutMs = 5_000) => untilWithin(what, check, timeoutMs);

function event(sessionId: string, seq: number, runId = 'run-1'): LoggedEvent {
  return { sessionId, seq, runId, kind: 'text', json: `{"seq":${seq}}`, at: 1_700_000_000_000 + seq };
}

const written = (backend: ClusterBackend) => new Promise<void>((resolve) => backend.eventLog.whenWritten!(resolve));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const remoteSeqs = (node: Node, sessionId: string) => node.remote.filter((r) => r.sessionId === sessionId).flatMap((r) => r.seqs);

async function acquire(node: Node, sessionId: string) {
  const result = await node.backend.runs.acquire(sessionId, { runId: 'run-1', provider: 'demo', startedAt: Date.now() });
  assert.is(result.outcome, 'acquired');
}

/** The rejection of `promise` (fails the test when it resolves or rejects with another type). */
async function rejects(promise: Promise<unknown>, type: new (...args: never[]) => Error = Error): Promise<Error> {
  const outcome = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  assert.instance(outcome, type);
  return outcome as Error;
}

test.before(async () => {
  redis = await nodes.start({ appendonly: true, appendfsync: 'always' });
});

test.after(() => nodes.stop());

test('a Redis restart loses nothing and repeats nothing: backlog written in order, readers resume', async () => {
  const { a, b, prefix } = await twoNodes();
  await acquire(a, 's');
  await a.backend.eventLog.prepare('s', 0);
  await b.backend.eventLog.prepare('s', 0);
  for (let seq = 1; seq <= 3; seq++) a.backend.eventLog.append(event('s', seq));
  await written(a.backend);
  await until('B has 1..3', () => remoteSeqs(b, 's').length === 3);

  await redis.stop();
  for (let seq = 4; seq <= 6; seq++) a.backend.eventLog.append(event('s', seq));
  let flushed = false;
  a.backend.eventLog.whenWritten!(() => (flushed = true));
  await sleep(300);
  assert.is(flushed, false, 'callbacks wait while Redis is down');
  assert.is(a.backend.eventLog.health().pendingEvents, 3);
  assert.is(a.backend.eventLog.health().degraded, true);
  assert.is(a.backend.health().connected, false);
  assert.type(a.backend.health().lastError, 'string');
  assert.equal(a.backend.eventLog.read('s', 3, 10).map((e) => e.seq), [4, 5, 6], 'reads still see them');

  await redis.restart();
  await until('the backlog is written', () => flushed);
  assert.is(a.backend.eventLog.health().degraded, false);
  await until('A is connected', () => a.backend.health().connected);
  const raw = new Redis(redis.url);
  const ids = (await raw.xrange(`${prefix}log:{s}`, '-', '+')).map(([id]) => id);
  raw.disconnect();
  assert.equal(ids, range(1, 6).map((seq) => `${seq}-0`));
  await until('B has 4..6', () => remoteSeqs(b, 's').length === 6);
  a.backend.eventLog.append(event('s', 7));
  await written(a.backend);
  await until('B has 7', () => remoteSeqs(b, 's').includes(7));
  await sleep(100);
  assert.equal(remoteSeqs(b, 's'), range(1, 7), 'each once, in order');
  assert.equal(remoteSeqs(a, 's'), []);
  assert.equal(a.refused, []);
  assert.equal(a.lost, [], 'the lease outlived a short restart');
  // The node bus subscribed again after the restart (its own resubscription, not ioredis's).
  const heard: unknown[] = [];
  b.backend.bus.onMessage((message) => heard.push(message));
  for (let attempt = 0; attempt < 50 && heard.length === 0; attempt++) {
    await a.backend.bus.send('b', { type: 'abort', sessionId: 's', runId: 'r' });
    await sleep(50);
  }
  assert.equal(heard[0], { type: 'abort', sessionId: 's', runId: 'r' });
});

test('a lease is given up after the lease time when Redis is killed', async () => {
  const leaseMs = 600;
  const { a } = await twoNodes({ leaseMs });
  await acquire(a, 's');
  await a.backend.eventLog.prepare('s', 0);
  await sleep(leaseMs);
  assert.equal(a.lost, [], 'renewals keep it while Redis answers');
  const killedAt = Date.now();
  await redis.kill();
  await until('the lease is lost', () => a.lost.length === 1, 3_000);
  const after = a.lost[0].at - killedAt;
  // The last renewal that succeeded was sent at most a third of the lease before the kill.
  // (Upper bound with slack for a loaded machine's timers.)
  assert.ok(after >= leaseMs / 3 && after <= 2 * leaseMs, `lost ${after} ms after the kill`);
  assert.is(a.backend.runs.tokenOf('s'), null);
  a.backend.eventLog.append(event('s', 1));
  await until('the append is refused', () => a.refused.length === 1);
  assert.equal(a.refused, [{ sessionId: 's', reason: 'fenced' }]);
  await redis.restart();
});

test('while Redis is down, calls reject at once', async () => {
  const { a } = await twoNodes();
  await redis.kill();
  await until('A notices', () => !a.backend.health().connected, 2_000);
  const started = Date.now();
  await rejects(a.backend.runs.acquire('s', { runId: 'run-1', provider: 'demo', startedAt: Date.now() }));
  await rejects(a.backend.eventLog.prepare('s', 0));
  await rejects(a.backend.sessions.listSessions());
  await rejects(a.backend.nodes());
  assert.ok(Date.now() - started < 1_000, `rejected after ${Date.now() - started} ms`);
  await redis.restart();
  await until('A reconnects', () => a.backend.health().connected, 5_000);
  const result = await a.backend.runs.acquire('s', { runId: 'run-1', provider: 'demo', startedAt: Date.now() });
  assert.is(result.outcome, 'acquired');
});

test('the unwritten backlog is bounded: past it every session with unwritten events is refused', async () => {
  const { a } = await twoNodes();
  await acquire(a, 's1');
  await acquire(a, 's2');
  await a.backend.eventLog.prepare('s1', 0);
  await a.backend.eventLog.prepare('s2', 0);
  a.backend.eventLog.append(event('s1', 1));
  await written(a.backend);
  await redis.kill();
  await until('A notices', () => !a.backend.health().connected, 2_000);
  a.backend.eventLog.append(event('s2', 1));
  let released = false;
  a.backend.eventLog.whenWritten!(() => (released = true));
  let seq = 1;
  while (seq <= MAX_UNWRITTEN_EVENTS) a.backend.eventLog.append(event('s1', ++seq));
  await until('both sessions are refused', () => a.refused.length === 2);
  assert.equal(
    a.refused.map((r) => `${r.sessionId}:${r.reason}`).sort(),
    ['s1:backlog', 's2:backlog'],
  );
  assert.ok(released, 'waiting callbacks ran');
  const health = a.backend.eventLog.health();
  assert.is(health.pendingEvents, 0);
  assert.is(health.droppedEvents, MAX_UNWRITTEN_EVENTS + 1);
  assert.is(a.backend.eventLog.latestSeq('s1'), 1, 'the mirror is back to what Redis holds');
  assert.is(a.backend.eventLog.latestSeq('s2'), 0);
  await redis.restart();
  await until('A reconnects', () => a.backend.health().connected, 5_000);
  a.backend.eventLog.append(event('s1', 2));
  await written(a.backend);
  assert.equal(await a.backend.eventLog.seqBounds('s1'), { latestSeq: 2, oldestSeq: 1 });
});

test('a Redis that cannot be reached fails the start with a clear error, without the password', async () => {
  const port = await freePort();
  const started = Date.now();
  const error = await openRedisCluster({
    url: `redis://someone:s3cr3t-pw@127.0.0.1:${port}`,
    nodeId: 'x',
    maxEventsPerSession: 10,
    maxBytesPerSession: 1000,
    tailEvents: 10,
  }).then(
    () => null,
    (reason: unknown) => reason,
  );
  const elapsed = Date.now() - started;
  assert.instance(error, Error);
  const message = (error as Error).message;
  assert.match(message, `Cannot reach Redis at 127.0.0.1:${port}`);
  assert.match(message, /ECONNREFUSED/);
  assert.not.match(message, 's3cr3t');
  assert.ok(elapsed <= OPEN_TIMEOUT_MS + 1_000, `rejected after ${elapsed} ms`);
  await rejects(
    openRedisCluster({ url: 'http://127.0.0.1:1', nodeId: 'x', maxEventsPerSession: 10, maxBytesPerSession: 1000, tailEvents: 10 }),
    TypeError,
  );
});

test.run();
