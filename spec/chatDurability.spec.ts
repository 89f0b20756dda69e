import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../persistence/database.js';
import { createSqliteEventLog } from '../persistence/eventLog.js';
import { connect, createScriptedRuntime, startHarness, until } from './support/chatHarness.js';

const test = suite('chat durability: gap, restart, recovery, back-pressure');

test('lastSeq older than the log oldest event: gap true and oldestSeq given', async () => {
  const runtime = createScriptedRuntime();
  const h = await startHarness(runtime, { limits: { maxEventsPerSession: 10, replayTailEvents: 5 } });
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  for (let i = 0; i < 30; i++) run.writer.send({ kind: 'stream_delta', content: String(i) });
  await c.waitFor((f) => f.seq === 30);
  await new Promise((resolve) => setTimeout(resolve, 20)); // let the batch flush and prune
  const late = await connect(h.url);
  late.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 3 }] });
  const ack = await late.waitFor((f) => f.kind === 'chat_subscribed');
  assert.is(ack.gap, true);
  assert.is(ack.oldestSeq, 21);
  await late.waitFor((f) => f.seq === 30);
  assert.equal(late.seqs(), Array.from({ length: 10 }, (_, i) => 21 + i), 'what is still there follows');
  run.resolve();
  await c.close();
  await late.close();
  await h.cleanup();
});

test('a gateway restart between two subscribes: replay is still exact', async () => {
  const runtime = createScriptedRuntime();
  const h = await startHarness(runtime);
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  for (let i = 0; i < 20; i++) run.writer.send({ kind: 'stream_delta', content: String(i) });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await c.waitFor((f) => f.kind === 'complete');
  const before = await connect(h.url);
  before.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 7 }] });
  await before.waitFor((f) => f.kind === 'complete');
  const firstReplay = before.frames.filter((f) => typeof f.seq === 'number');
  await h.stop();
  const again = await startHarness(createScriptedRuntime(), {}, h.dir);
  const after = await connect(again.url);
  after.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 7 }] });
  await after.waitFor((f) => f.kind === 'complete');
  const secondReplay = after.frames.filter((f) => typeof f.seq === 'number');
  assert.equal(secondReplay, firstReplay, 'byte-identical frames from the durable log');
  assert.equal(after.seqs(), Array.from({ length: 14 }, (_, i) => 8 + i));
  await after.close();
  await again.cleanup();
});

test('runs a crash left running are completed at start-up with a synthetic complete', async () => {
  const runtime = createScriptedRuntime();
  const h = await startHarness(runtime);
  const sessionId = h.createSession();
  await h.stop();
  // Simulate the crash's leftovers: a run marked running, with two events, and no complete.
  const database = openDatabase(h.dbPath);
  const log = createSqliteEventLog(database, { maxEventsPerSession: 100, maxBytesPerSession: 1e6, tailEvents: 10, batchMaxEvents: 10 });
  log.runStarted({ runId: 'crashed-run', sessionId, provider: 'scripted', startedAt: 1 });
  for (const seq of [1, 2]) {
    log.append({ sessionId, seq, runId: 'crashed-run', kind: 'text', json: JSON.stringify({ kind: 'text', seq, sessionId }), at: 1 });
  }
  log.close();
  const again = await startHarness(runtime, {}, h.dir);
  const c = await connect(again.url);
  c.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 1 }] });
  const complete = await c.waitFor((f) => f.kind === 'complete');
  assert.is(complete.seq, 3);
  assert.is(complete.exitCode, 1);
  assert.is(complete.runId, 'crashed-run');
  assert.equal(c.seqs(), [2, 3]);
  // The session is free for a new run, which continues the seq.
  c.send({ type: 'chat.send', sessionId, content: 'y' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await c.waitFor((f) => f.kind === 'complete' && f.seq === 4);
  await c.close();
  await again.cleanup();
});

test('a slow client falls behind while a fast one stays live; the slow one catches up from the log', async () => {
  const runtime = createScriptedRuntime();
  const h = await startHarness(runtime, {
    limits: { subscriberHighWaterMarkBytes: 16 * 1024, subscriberLowWaterMarkBytes: 4 * 1024, rateLimitPerSecond: 0 },
  });
  const sessionId = h.createSession();
  const fast = await connect(h.url);
  const slow = await connect(h.url);
  slow.send({ type: 'chat.subscribe', sessions: [{ sessionId }] });
  await slow.waitFor((f) => f.kind === 'chat_subscribed');
  // The slow client stops reading: its TCP window fills, then the server's send buffer grows.
  (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
  fast.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  const payload = 'y'.repeat(2000);
  const total = 3000;
  for (let i = 0; i < total; i++) {
    run.writer.send({ kind: 'stream_delta', content: payload });
    if (i % 100 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await fast.waitFor((f) => f.kind === 'complete', 20_000);
  assert.equal(fast.seqs(), Array.from({ length: total + 1 }, (_, i) => i + 1), 'the fast client saw everything live');
  const sockets = [...h.gateway.connectedClients];
  const buffered = Math.max(...sockets.map((ws) => ws.bufferedAmount));
  assert.ok(buffered < 16 * 1024 + 300 * 2100, `server-side buffer bounded (was ${buffered})`);
  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  await slow.waitFor((f) => f.kind === 'complete', 20_000);
  assert.equal(slow.seqs(), Array.from({ length: total + 1 }, (_, i) => i + 1), 'caught up with no gap and no duplicate');
  await fast.close();
  await slow.close();
  await h.cleanup();
  await until(() => true);
});

test.run();
