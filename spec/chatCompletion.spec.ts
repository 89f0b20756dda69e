import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, createScriptedRuntime, startHarness, until, type Harness, type ScriptedRuntime } from './support/chatHarness.js';

const test = suite<{ h: Harness; runtime: ScriptedRuntime }>('chat completion');

test.before.each(async (ctx) => {
  ctx.runtime = createScriptedRuntime();
  ctx.h = await startHarness(ctx.runtime);
});
test.after.each(async (ctx) => {
  await ctx.h.cleanup();
});

const completes = (frames: Array<Record<string, unknown>>) => frames.filter((f) => f.kind === 'complete');

test('a runtime that sends two completes: one reaches clients, the second consumes no seq', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.writer.send({ kind: 'text', content: 'late' });
  run.resolve();
  await c.waitFor((f) => f.kind === 'text');
  assert.is(completes(c.frames).length, 1);
  assert.equal(c.seqs(), [1, 2], 'a late event after complete is still forwarded with the next seq');
  await c.close();
});

test('runtime throws before any event: an error event, then one complete with exitCode 1', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const c = await connect(h.url);
  runtime.throwNext = new Error('boom');
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const complete = await c.waitFor((f) => f.kind === 'complete');
  const error = c.frames.find((f) => f.kind === 'error');
  assert.ok(error, 'error event sent');
  assert.is(error?.content, 'boom');
  assert.is(error?.seq, 1);
  assert.is(complete.exitCode, 1);
  assert.is(complete.success, false);
  assert.is(completes(c.frames).length, 1);
  assert.is(h.gateway.chatRunRegistry.isProcessing(sessionId), false);
  await c.close();
});

test('runtime resolves without complete: one synthetic complete { exitCode: 1 }', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'a' });
  run.resolve();
  const complete = await c.waitFor((f) => f.kind === 'complete');
  assert.is(complete.exitCode, 1);
  assert.is(complete.aborted, false);
  assert.equal(c.seqs(), [1, 2]);
  await c.close();
});

test('abort of a running run: one complete { aborted: true, exitCode: 0 }; a late runtime complete is dropped', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'a' });
  c.send({ type: 'chat.abort', sessionId });
  const complete = await c.waitFor((f) => f.kind === 'complete');
  assert.is(complete.aborted, true);
  assert.is(complete.exitCode, 0);
  assert.is(complete.success, false);
  assert.equal(runtime.aborts, [sessionId]);
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  // The next run proves the session is free, and that nothing else arrived for run 1.
  c.send({ type: 'chat.send', sessionId, content: 'y' });
  const next = await runtime.nextRun();
  next.writer.send({ kind: 'complete', exitCode: 0 });
  next.resolve();
  await until(() => completes(c.frames).length === 2);
  assert.equal(c.seqs(), [1, 2, 3]);
  await c.close();
});

test('abort reported as failed: complete { aborted, exitCode 1 }; RUN_IN_PROGRESS until the runtime settles', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  runtime.abortAnswer = false;
  c.send({ type: 'chat.abort', sessionId });
  const complete = await c.waitFor((f) => f.kind === 'complete');
  assert.is(complete.aborted, true);
  assert.is(complete.exitCode, 1);
  c.send({ type: 'chat.send', sessionId, content: 'again' });
  const refused = await c.waitFor((f) => f.kind === 'protocol_error');
  assert.is(refused.code, 'RUN_IN_PROGRESS');
  assert.is(refused.sessionId, sessionId);
  assert.is(h.gateway.chatRunRegistry.isProcessing(sessionId), false, 'completed for clients');
  run.writer.send({ kind: 'text', content: 'still alive' });
  await c.waitFor((f) => f.kind === 'text');
  run.resolve();
  await until(() => !h.gateway.chatRunRegistry.isProcessing(sessionId));
  runtime.abortAnswer = true;
  const before = c.frames.length;
  c.send({ type: 'chat.send', sessionId, content: 'now' });
  const next = await runtime.nextRun();
  assert.is(next.content, 'now');
  next.resolve();
  await c.waitFor((f) => f.kind === 'complete', 5000, before);
  assert.is(completes(c.frames).length, 2, 'the settle of the aborted run added no complete');
  await c.close();
});

test("a run's late safety net never completes the session's next run", async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'one' });
  const first = await runtime.nextRun();
  first.writer.send({ kind: 'complete', exitCode: 0 });
  await c.waitFor((f) => f.kind === 'complete');
  c.send({ type: 'chat.send', sessionId, content: 'two' });
  const second = await runtime.nextRun();
  // Run 1's runtime settles only now, while run 2 is running.
  first.resolve();
  second.writer.send({ kind: 'text', content: 'run two' });
  await c.waitFor((f) => f.kind === 'text');
  assert.is(h.gateway.chatRunRegistry.isProcessing(sessionId), true);
  assert.is(completes(c.frames).length, 1);
  second.writer.send({ kind: 'complete', exitCode: 0 });
  second.resolve();
  await until(() => completes(c.frames).length === 2);
  await c.close();
});

test('listRunningRuns reports running runs with their lastSeq', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'a' });
  await c.waitFor((f) => f.seq === 1);
  const [entry] = h.gateway.chatRunRegistry.listRunningRuns();
  assert.is(entry.sessionId, sessionId);
  assert.is(entry.provider, 'scripted');
  assert.is(entry.lastSeq, 1);
  assert.type(entry.startedAt, 'number');
  run.resolve();
  await c.waitFor((f) => f.kind === 'complete');
  assert.equal(h.gateway.chatRunRegistry.listRunningRuns(), []);
  await c.close();
});

test('session_created is never forwarded: the store gets the id and one session_upserted names it', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const c = await connect(h.url);
  const other = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  assert.is(run.writer.getSessionId(), null);
  run.writer.send({ kind: 'session_created', newSessionId: 'native-abc' });
  assert.is(run.writer.getSessionId(), 'native-abc');
  run.writer.setSessionId('native-abc');
  run.writer.send({ kind: 'text', content: 'a' });
  const upserted = await other.waitFor((f) => f.kind === 'session_upserted');
  assert.is(upserted.sessionId, sessionId);
  assert.is(upserted.provider, 'scripted');
  assert.is(upserted.providerSessionId, 'native-abc', 'as the baseline: clients use it as an alias of the app id');
  await c.waitFor((f) => f.kind === 'text');
  assert.is(c.frames.filter((f) => f.kind === 'session_upserted').length, 1);
  assert.not.ok(c.frames.some((f) => f.kind === 'session_created'));
  assert.equal(c.seqs(sessionId), [1]);
  run.resolve();
  await c.waitFor((f) => f.kind === 'complete');
  // The row now carries the provider id: the next run starts with it.
  c.send({ type: 'chat.send', sessionId, content: 'y' });
  const next = await runtime.nextRun();
  assert.is(next.writer.getSessionId(), 'native-abc');
  next.resolve();
  await c.close();
  await other.close();
});

test.run();
