import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, createScriptedRuntime, startHarness, type Harness, type ScriptedRuntime } from './support/chatHarness.js';

const test = suite<{ h: Harness; runtime: ScriptedRuntime }>('chat stream');

test.before.each(async (ctx) => {
  ctx.runtime = createScriptedRuntime();
  ctx.h = await startHarness(ctx.runtime);
});
test.after.each(async (ctx) => {
  await ctx.h.cleanup();
});

test('one client sends and streams to complete: seq 1..n, one complete, success', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const client = await connect(h.url);
  client.send({ type: 'chat.send', sessionId, content: 'hello', options: { model: 'x', cwd: '/etc' } });
  const run = await runtime.nextRun();
  assert.is(run.content, 'hello');
  assert.is(run.options.sessionId, sessionId);
  assert.is(run.options.cwd, h.dir, 'the row decides cwd, not the client');
  assert.is(run.options.model, undefined, 'no client option reaches a runtime unless the host allows it (prepareRun)');
  run.writer.send({ kind: 'stream_delta', content: 'a', sessionId: 'native-1' });
  run.writer.send({ kind: 'stream_delta', content: 'b' });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  const complete = await client.waitFor((f) => f.kind === 'complete');
  assert.equal(client.seqs(), [1, 2, 3]);
  assert.is(client.frames[0].sessionId, sessionId, 'sessionId rewritten to the app id');
  assert.is(complete.success, true);
  assert.is(complete.aborted, false);
  assert.is(complete.actualSessionId, sessionId);
  assert.type(complete.timestamp, 'string');
  assert.type(complete.id, 'string');
  assert.type(complete.runId, 'string');
  await client.close();
});

test('seq continues across runs of a session', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const client = await connect(h.url);
  for (let i = 0; i < 2; i++) {
    client.send({ type: 'chat.send', sessionId, content: `turn ${i}` });
    const run = await runtime.nextRun();
    run.writer.send({ kind: 'text', content: 't' });
    run.writer.send({ kind: 'complete', exitCode: 0 });
    run.resolve();
    await client.waitFor((f) => f.kind === 'complete', 5000, client.frames.length - 1 < 0 ? 0 : i * 2);
  }
  assert.equal(client.seqs(), [1, 2, 3, 4]);
  const runIds = new Set(client.frames.map((f) => f.runId));
  assert.is(runIds.size, 2);
  await client.close();
});

test('two tabs on one run both get every frame in the same order', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const a = await connect(h.url);
  const b = await connect(h.url);
  b.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  await b.waitFor((f) => f.kind === 'chat_subscribed');
  a.send({ type: 'chat.send', sessionId, content: 'go' });
  const run = await runtime.nextRun();
  for (let i = 0; i < 50; i++) run.writer.send({ kind: 'stream_delta', content: `d${i}` });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await a.waitFor((f) => f.kind === 'complete');
  await b.waitFor((f) => f.kind === 'complete');
  const expected = Array.from({ length: 51 }, (_, i) => i + 1);
  assert.equal(a.seqs(sessionId), expected);
  assert.equal(b.seqs(sessionId), expected);
  assert.equal(
    a.frames.filter((f) => f.seq).map((f) => f.content),
    b.frames.filter((f) => f.seq).map((f) => f.content),
  );
  await a.close();
  await b.close();
});

test('a dropped socket resubscribes with lastSeq and gets exactly the missing suffix, then live frames', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const a = await connect(h.url);
  a.send({ type: 'chat.send', sessionId, content: 'go' });
  const run = await runtime.nextRun();
  for (let i = 1; i <= 5; i++) run.writer.send({ kind: 'stream_delta', content: `d${i}` });
  await a.waitFor((f) => f.seq === 5);
  a.ws.terminate();
  for (let i = 6; i <= 9; i++) run.writer.send({ kind: 'stream_delta', content: `d${i}` });
  const again = await connect(h.url);
  again.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 5 }] });
  const ack = await again.waitFor((f) => f.kind === 'chat_subscribed');
  assert.is(ack.isProcessing, true);
  assert.is(ack.lastSeq, 9);
  assert.is(ack.gap, false);
  assert.is(ack.oldestSeq, 1);
  assert.type(ack.runId, 'string');
  await again.waitFor((f) => f.seq === 9);
  run.writer.send({ kind: 'stream_delta', content: 'd10' });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await again.waitFor((f) => f.kind === 'complete');
  assert.equal(again.seqs(), [6, 7, 8, 9, 10, 11]);
  assert.is(again.frames[0].kind, 'chat_subscribed', 'the ack comes before the replay');
  await again.close();
});

test('the run finishes while the client is away: it receives the tail including complete', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const a = await connect(h.url);
  a.send({ type: 'chat.send', sessionId, content: 'go' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'one' });
  run.writer.send({ kind: 'text', content: 'two' });
  await a.waitFor((f) => f.seq === 2);
  await a.close();
  run.writer.send({ kind: 'text', content: 'three' });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  const again = await connect(h.url);
  again.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 2 }] });
  const ack = await again.waitFor((f) => f.kind === 'chat_subscribed');
  assert.is(ack.isProcessing, false);
  await again.waitFor((f) => f.kind === 'complete');
  assert.equal(again.seqs(), [3, 4]);
  // A fresh client (lastSeq 0) of a finished run gets the ack only: history comes over REST.
  const fresh = await connect(h.url);
  fresh.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  await fresh.waitFor((f) => f.kind === 'chat_subscribed');
  fresh.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 4 }] });
  await fresh.waitFor((f) => f.kind === 'chat_subscribed', 5000, 1);
  assert.equal(fresh.seqs(), []);
  await again.close();
  await fresh.close();
});

test('a client that kept max(seq) of run 1 reconnects during run 2 and misses nothing', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const a = await connect(h.url);
  a.send({ type: 'chat.send', sessionId, content: 'one' });
  const first = await runtime.nextRun();
  for (let i = 0; i < 11; i++) first.writer.send({ kind: 'stream_delta', content: 'x' });
  first.writer.send({ kind: 'complete', exitCode: 0 });
  first.resolve();
  await a.waitFor((f) => f.kind === 'complete');
  assert.is(Math.max(...a.seqs()), 12);
  await a.close();
  const b = await connect(h.url);
  b.send({ type: 'chat.send', sessionId, content: 'two' });
  const second = await runtime.nextRun();
  second.writer.send({ kind: 'stream_delta', content: 'y1' });
  second.writer.send({ kind: 'stream_delta', content: 'y2' });
  await b.waitFor((f) => f.seq === 14);
  const returning = await connect(h.url);
  returning.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 12 }] });
  await returning.waitFor((f) => f.seq === 14);
  second.writer.send({ kind: 'complete', exitCode: 0 });
  second.resolve();
  await returning.waitFor((f) => f.kind === 'complete');
  assert.equal(returning.seqs(), [13, 14, 15]);
  await b.close();
  await returning.close();
});

test('chat.unsubscribe detaches a socket from a session', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const watcher = await connect(h.url);
  watcher.send({ type: 'chat.subscribe', sessions: [{ sessionId }] });
  await watcher.waitFor((f) => f.kind === 'chat_subscribed');
  const sender = await connect(h.url);
  sender.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'seen' });
  await watcher.waitFor((f) => f.seq === 1);
  watcher.send({ type: 'chat.unsubscribe', sessions: [sessionId] });
  // A subscribe round trip on another session proves the unsubscribe was handled.
  watcher.send({ type: 'chat.subscribe', sessions: [{ sessionId: 'other' }] });
  await watcher.waitFor((f) => f.kind === 'chat_subscribed' && f.sessionId === 'other');
  run.writer.send({ kind: 'text', content: 'unseen' });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await sender.waitFor((f) => f.kind === 'complete');
  assert.equal(watcher.seqs(sessionId), [1]);
  await watcher.close();
  await sender.close();
});

test.run();
