/**
 * One focused scenario per bug the reliability suites found, so each stays fixed even if the
 * random runs stop producing it. (Shutdown with a non-reading client: shutdown.spec.ts; plugin
 * paths resolved by the URL parser: security.spec.ts.)
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, createScriptedRuntime, startHarness, type Harness, type ScriptedRuntime } from '../support/chatHarness.js';

const test = suite<{ h: Harness; runtime: ScriptedRuntime }>('reliability: regressions');

test.before.each(async (ctx) => {
  ctx.runtime = createScriptedRuntime();
  ctx.h = await startHarness(ctx.runtime);
});
test.after.each(async (ctx) => {
  await ctx.h.cleanup();
});

/** Sends frames in one TCP write, so the gateway parses them in one turn of the event loop. */
function sendTogether(ws: import('ws').WebSocket, frames: string[]): void {
  const socket = (ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
  socket.cork();
  for (const frame of frames) ws.send(frame);
  socket.uncork();
}

test('fuzz: a frame that fails to decode is answered after the valid frames before it (order is the only correlation)', async ({ h }) => {
  const c = await connect(h.url);
  sendTogether(c.ws, [
    JSON.stringify({ type: 'chat.permission-response', requestId: 'none', allow: true }),
    JSON.stringify({ type: 'chat.send', sessionId: 'missing' }),
    'not json',
    JSON.stringify({ type: 'chat.nope' }),
    JSON.stringify({ type: 'chat.abort', sessionId: 'last' }),
  ]);
  await c.waitFor((f) => f.code === 'NO_ACTIVE_RUN');
  assert.equal(
    c.frames.map((f) => f.code),
    ['UNKNOWN_PERMISSION_REQUEST', 'SESSION_NOT_FOUND', 'INVALID_PAYLOAD', 'UNKNOWN_MESSAGE_TYPE', 'NO_ACTIVE_RUN'],
  );
  await c.close();
});

test('fuzz: a session named many times in one chat.subscribe is acked and replayed once (no amplification)', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const sender = await connect(h.url);
  sender.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  for (let i = 0; i < 5; i++) run.writer.send({ kind: 'text', content: String(i) });
  await sender.waitFor((f) => f.seq === 5);
  const c = await connect(h.url);
  const entries = Array.from({ length: 5000 }, (_, i) => ({ sessionId: i % 2 ? sessionId : ` ${sessionId} `, lastSeq: i % 5 }));
  c.send({ type: 'chat.subscribe', sessions: [...entries, { sessionId: 'other' }] });
  await c.waitFor((f) => f.kind === 'chat_subscribed' && f.sessionId === 'other');
  c.send({ type: 'chat.abort', sessionId: 'sync' });
  await c.waitFor((f) => f.code === 'NO_ACTIVE_RUN');
  assert.is(c.frames.filter((f) => f.kind === 'chat_subscribed').length, 2, 'one ack per distinct session');
  assert.equal(c.seqs(sessionId), [1, 2, 3, 4, 5], 'the first entry (lastSeq 0) decides; replayed once');
  run.resolve();
  await sender.close();
  await c.close();
});

test('review: a client that stops reading but keeps asking is cut at maxSocketBufferBytes, not buffered without end', async ({ runtime }) => {
  const cap = 256 * 1024;
  const h = await startHarness(runtime, { limits: { maxSocketBufferBytes: cap, subscriberHighWaterMarkBytes: 64 * 1024, subscriberLowWaterMarkBytes: 16 * 1024, rateLimitPerSecond: 0 } });
  try {
    const sessionId = h.createSession();
    const owner = await connect(h.url);
    owner.send({ type: 'chat.send', sessionId, content: 'x' });
    const run = await runtime.nextRun();
    // Every ack carries the pending request's input: 8 KB an answer.
    run.writer.send({ kind: 'permission_request', requestId: 'big', toolName: 'Write', input: { content: 'z'.repeat(8 * 1024) } });
    await owner.waitFor((f) => f.kind === 'permission_request');
    const reader = await connect(h.url);
    (reader.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const ask = JSON.stringify({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 1 }] });
    let peak = 0;
    for (let i = 0; i < 4000 && h.gateway.connectedClients.size === 2; i++) {
      reader.ws.send(ask);
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
      for (const ws of h.gateway.connectedClients) peak = Math.max(peak, ws.bufferedAmount);
    }
    const deadline = Date.now() + 10_000;
    while (h.gateway.connectedClients.size !== 1) {
      if (Date.now() > deadline) throw new Error(`the silent reader was never cut (server buffer peaked at ${peak} bytes)`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(peak < cap + 64 * 1024, `the server-side buffer stayed near the cap (peak ${peak})`);
    // The owner is unaffected.
    owner.send({ type: 'chat.abort', sessionId: 'sync' });
    await owner.waitFor((f) => f.code === 'NO_ACTIVE_RUN');
    run.resolve();
    await owner.close();
    reader.ws.terminate();
  } finally {
    await h.cleanup();
  }
});

test.run();
