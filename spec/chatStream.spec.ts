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
  assert.is(run.options.model, 'x');
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

test.run();
