import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, createScriptedRuntime, startHarness, until, type Harness, type ScriptedRuntime } from './support/chatHarness.js';

const test = suite<{ h: Harness; runtime: ScriptedRuntime }>('chat permissions');

test.before.each(async (ctx) => {
  ctx.runtime = createScriptedRuntime();
  ctx.h = await startHarness(ctx.runtime);
});
test.after.each(async (ctx) => {
  await ctx.h.cleanup();
});

test('a permission request is pending for a late subscriber, and its response resolves it', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const sender = await connect(h.url);
  sender.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'permission_request', requestId: 'req-1', toolName: 'Bash', input: { command: 'ls' } });
  await sender.waitFor((f) => f.kind === 'permission_request');
  const late = await connect(h.url);
  late.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 1 }] });
  const ack = await late.waitFor((f) => f.kind === 'chat_subscribed');
  // The scripted runtime reports none itself, so the gateway's own tracking answers.
  assert.equal(ack.pendingPermissions, [{ requestId: 'req-1', toolName: 'Bash', input: { command: 'ls' }, sessionId }]);
  late.send({ type: 'chat.permission-response', requestId: 'req-1', allow: true, updatedInput: { command: 'ls -la' }, message: 'ok' });
  await until(() => runtime.approvals.length === 1);
  assert.equal(runtime.approvals[0], { requestId: 'req-1', decision: { allow: true, updatedInput: { command: 'ls -la' }, message: 'ok' } });
  // Answered once: a second response is unknown.
  late.send({ type: 'chat.permission-response', requestId: 'req-1', allow: false });
  const error = await late.waitFor((f) => f.kind === 'protocol_error');
  assert.is(error.code, 'UNKNOWN_PERMISSION_REQUEST');
  run.resolve();
  await sender.close();
  await late.close();
});

test('a socket that never subscribed to the session cannot answer its request', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const sender = await connect(h.url);
  sender.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'permission_request', requestId: 'req-2', toolName: 'Bash', input: {} });
  await sender.waitFor((f) => f.kind === 'permission_request');
  const stranger = await connect(h.url);
  stranger.send({ type: 'chat.permission-response', requestId: 'req-2', allow: true });
  const error = await stranger.waitFor((f) => f.kind === 'protocol_error');
  assert.is(error.code, 'UNKNOWN_PERMISSION_REQUEST');
  assert.equal(runtime.approvals, []);
  sender.send({ type: 'chat.permission-response', requestId: 'req-2', allow: false, message: 'no' });
  await until(() => runtime.approvals.length === 1);
  assert.is(runtime.approvals[0].decision.allow, false);
  run.resolve();
  await sender.close();
  await stranger.close();
});

test('permission_cancelled removes the request from pending', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const sender = await connect(h.url);
  sender.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'permission_request', requestId: 'req-3', toolName: 'Read', input: {} });
  run.writer.send({ kind: 'permission_cancelled', requestId: 'req-3', reason: 'timeout' });
  await sender.waitFor((f) => f.kind === 'permission_cancelled');
  const late = await connect(h.url);
  late.send({ type: 'chat.subscribe', sessions: [{ sessionId }] });
  const ack = await late.waitFor((f) => f.kind === 'chat_subscribed');
  assert.equal(ack.pendingPermissions, []);
  sender.send({ type: 'chat.permission-response', requestId: 'req-3', allow: true });
  const error = await sender.waitFor((f) => f.kind === 'protocol_error');
  assert.is(error.code, 'UNKNOWN_PERMISSION_REQUEST');
  run.resolve();
  await sender.close();
  await late.close();
});

test.run();
