/**
 * `chat.send` with `clientMessageId` [ours]: a repeat within the window starts no second run,
 * and its sender is answered as if its first send had been accepted (attached to that run).
 * Real sockets and a real SQLite file; the window runs on a SimulatedClock.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from 'xstate';

import { connect, createScriptedRuntime, startHarness, until, type Harness, type ScriptedRuntime } from './support/chatHarness.js';

const WINDOW_MS = 60_000;
const test = suite<{ h: Harness; runtime: ScriptedRuntime; clock: SimulatedClock }>('chat idempotent sends');

test.before.each(async (ctx) => {
  ctx.runtime = createScriptedRuntime();
  ctx.clock = new SimulatedClock();
  ctx.h = await startHarness(ctx.runtime, { clock: ctx.clock, limits: { clientMessageIdWindowMs: WINDOW_MS } });
});
test.after.each(async (ctx) => {
  await ctx.h.cleanup();
});

test('a double click: the same id twice on one socket is one run, and no error', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const client = await connect(h.url);
  client.send({ type: 'chat.send', sessionId, content: 'hello', clientMessageId: 'm-1' });
  client.send({ type: 'chat.send', sessionId, content: 'hello', clientMessageId: 'm-1' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'hi' });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await client.waitFor((f) => f.kind === 'complete');
  assert.is(runtime.runs.length, 1, 'one run');
  assert.equal(client.frames.filter((f) => f.kind === 'protocol_error'), [], 'the repeat is not refused');
  assert.equal(client.seqs(sessionId), [1, 2], 'and nothing is sent twice');
  await client.close();
});

test('a retry from a new socket after a drop, mid-run: attached to the first run, replayed from its start', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const first = await connect(h.url);
  first.send({ type: 'chat.send', sessionId, content: 'hello', clientMessageId: 'm-2' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'one' });
  await first.waitFor((f) => f.kind === 'text');
  await first.close();
  const retry = await connect(h.url);
  retry.send({ type: 'chat.send', sessionId, content: 'hello', clientMessageId: 'm-2' });
  await retry.waitFor((f) => f.seq === 1);
  run.writer.send({ kind: 'text', content: 'two' });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await retry.waitFor((f) => f.kind === 'complete');
  assert.is(runtime.runs.length, 1, 'no second run');
  assert.equal(retry.seqs(sessionId), [1, 2, 3], 'the whole run, once, in order');
  assert.ok(retry.frames.every((f) => f.kind !== 'protocol_error'));
  await retry.close();
});

test('after the run ended, within the window: still no second run; past the window the id is new again', async ({ h, runtime, clock }) => {
  const sessionId = h.createSession();
  const client = await connect(h.url);
  client.send({ type: 'chat.send', sessionId, content: 'x', clientMessageId: 'm-3' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await client.waitFor((f) => f.kind === 'complete');
  await until(() => h.gateway.chatRunRegistry.isProcessing(sessionId) === false);
  clock.increment(WINDOW_MS - 1);
  client.send({ type: 'chat.send', sessionId, content: 'x', clientMessageId: 'm-3' });
  // A different id in between proves the repeat was handled (frames are answered in order).
  client.send({ type: 'chat.send', sessionId, content: 'y', clientMessageId: 'm-4' });
  const second = await runtime.nextRun();
  assert.is(second.content, 'y', 'the repeat started nothing; the new id did');
  second.writer.send({ kind: 'complete', exitCode: 0 });
  second.resolve();
  await until(() => client.frames.filter((f) => f.kind === 'complete').length === 2);
  await until(() => h.gateway.chatRunRegistry.isProcessing(sessionId) === false);
  clock.increment(WINDOW_MS);
  client.send({ type: 'chat.send', sessionId, content: 'x again', clientMessageId: 'm-3' });
  const third = await runtime.nextRun();
  assert.is(third.content, 'x again', 'past the window the same id is a new send');
  third.resolve();
  await client.close();
});

test('a clientMessageId that is not a short string is refused with INVALID_PAYLOAD', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const client = await connect(h.url);
  for (const bad of [42, '', 'x'.repeat(129), { id: 1 }]) {
    const before = client.frames.length;
    client.send({ type: 'chat.send', sessionId, content: 'x', clientMessageId: bad });
    const error = await client.waitFor((f) => f.kind === 'protocol_error', 5000, before);
    assert.is(error.code, 'INVALID_PAYLOAD');
    assert.is(error.sessionId, sessionId);
  }
  assert.is(runtime.runs.length, 0);
  await client.close();
});

test.run();
