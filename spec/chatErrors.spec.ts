import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, createScriptedRuntime, startHarness, type Harness, type ScriptedRuntime } from './support/chatHarness.js';

const test = suite<{ h: Harness; runtime: ScriptedRuntime }>('chat errors');

test.before.each(async (ctx) => {
  ctx.runtime = createScriptedRuntime();
  ctx.h = await startHarness(ctx.runtime);
});
test.after.each(async (ctx) => {
  await ctx.h.cleanup();
});

test('malformed frames get the right protocol_error and the socket stays usable', async ({ h }) => {
  const c = await connect(h.url);
  const cases: Array<[string | Buffer, boolean, string]> = [
    ['not json', false, 'INVALID_PAYLOAD'],
    ['', false, 'INVALID_PAYLOAD'],
    ['[1,2,3]', false, 'INVALID_PAYLOAD'],
    ['42', false, 'INVALID_PAYLOAD'],
    ['"text"', false, 'INVALID_PAYLOAD'],
    ['null', false, 'INVALID_PAYLOAD'],
    [Buffer.from([0xff, 0xfe, 0x00]), true, 'INVALID_PAYLOAD'],
    ['{}', false, 'UNKNOWN_MESSAGE_TYPE'],
    ['{"type":42}', false, 'UNKNOWN_MESSAGE_TYPE'],
    ['{"type":"chat.nope"}', false, 'UNKNOWN_MESSAGE_TYPE'],
    ['{"type":"chat.send"}', false, 'SESSION_ID_REQUIRED'],
    ['{"type":"chat.send","sessionId":"   "}', false, 'SESSION_ID_REQUIRED'],
    ['{"type":"chat.abort","sessionId":7}', false, 'SESSION_ID_REQUIRED'],
    ['{"type":"chat.send","sessionId":"missing"}', false, 'SESSION_NOT_FOUND'],
    ['{"type":"chat.abort","sessionId":"missing"}', false, 'NO_ACTIVE_RUN'],
    ['{"type":"chat.permission-response","requestId":"nope","allow":true}', false, 'UNKNOWN_PERMISSION_REQUEST'],
    ['{"type":"chat.permission-response"}', false, 'UNKNOWN_PERMISSION_REQUEST'],
    ['{"type":"chat.send","sessionId":"__proto__","options":{"__proto__":{"polluted":true}}}', false, 'SESSION_NOT_FOUND'],
  ];
  for (const [payload, binary, code] of cases) {
    const from = c.frames.length;
    c.sendRaw(payload, binary);
    const error = await c.waitFor((f) => f.kind === 'protocol_error', 5000, from);
    assert.is(error.code, code, `payload ${String(payload)}`);
    assert.type(error.error, 'string');
    assert.type(error.timestamp, 'string');
  }
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  const missing = c.frames.find((f) => f.code === 'SESSION_NOT_FOUND');
  assert.is(missing?.sessionId, 'missing', 'errors tied to a session carry its id');
  // Still usable: a subscribe is answered.
  c.send({ type: 'chat.subscribe', sessions: [{ sessionId: 'x' }] });
  await c.waitFor((f) => f.kind === 'chat_subscribed');
  await c.close();
});

test('chat.send errors: RUN_IN_PROGRESS, UNSUPPORTED_PROVIDER', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const unsupported = h.createSession('martian');
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId: unsupported, content: 'x' });
  const e1 = await c.waitFor((f) => f.kind === 'protocol_error');
  assert.is(e1.code, 'UNSUPPORTED_PROVIDER');
  assert.is(e1.sessionId, unsupported);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  const from = c.frames.length;
  c.send({ type: 'chat.send', sessionId: `  ${sessionId}  `, content: 'again' });
  const e2 = await c.waitFor((f) => f.kind === 'protocol_error', 5000, from);
  assert.is(e2.code, 'RUN_IN_PROGRESS');
  assert.is(e2.sessionId, sessionId, 'the id was trimmed');
  run.resolve();
  await c.waitFor((f) => f.kind === 'complete');
  assert.is(runtime.runs.length, 1);
  await c.close();
});

test('lastSeq values are normalised: strings, negatives, fractions, NaN, huge', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const c = await connect(h.url);
  c.send({ type: 'chat.send', sessionId, content: 'x' });
  const run = await runtime.nextRun();
  for (let i = 0; i < 4; i++) run.writer.send({ kind: 'text', content: String(i) });
  await c.waitFor((f) => f.seq === 4);
  const probe = async (lastSeq: unknown, expected: number[], gap: boolean) => {
    const other = await connect(h.url);
    other.ws.send(`{"type":"chat.subscribe","sessions":[{"sessionId":"${sessionId}","lastSeq":${lastSeq}}]}`);
    const ack = await other.waitFor((f) => f.kind === 'chat_subscribed');
    assert.is(ack.gap, gap, `gap for ${String(lastSeq)}`);
    if (expected.length) await other.waitFor((f) => f.seq === 4);
    else await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(other.seqs(), expected, `replay for ${String(lastSeq)}`);
    await other.close();
  };
  await probe('"2"', [1, 2, 3, 4], false);
  await probe(-5, [1, 2, 3, 4], false);
  await probe(2.9, [3, 4], false);
  await probe('null', [1, 2, 3, 4], false);
  await probe(1e300, [], true);
  run.resolve();
  await c.close();
});

test('an oversize frame closes the socket with 1009', async ({ h }) => {
  const c = await connect(h.url);
  c.sendRaw('x'.repeat(1024 * 1024 + 1));
  const closed = await c.waitForClose();
  assert.is(closed.code, 1009);
});

test('a flood over the rate limit closes with 1008 Rate limit', async ({ h }) => {
  const c = await connect(h.url);
  for (let i = 0; i < 1000; i++) {
    if (c.ws.readyState !== c.ws.OPEN) break;
    c.send({ type: 'chat.subscribe', sessions: [] });
  }
  const closed = await c.waitForClose();
  assert.is(closed.code, 1008);
  assert.is(closed.reason, 'Rate limit');
});

test('chat.subscribe beyond maxSubscriptionsPerSocket answers PAYLOAD_TOO_LARGE', async ({ runtime }) => {
  const h = await startHarness(runtime, { limits: { maxSubscriptionsPerSocket: 2 } });
  const c = await connect(h.url);
  c.send({ type: 'chat.subscribe', sessions: [{ sessionId: 'a' }, { sessionId: 'b' }, { sessionId: 'c' }] });
  const error = await c.waitFor((f) => f.kind === 'protocol_error');
  assert.is(error.code, 'PAYLOAD_TOO_LARGE');
  assert.is(c.frames.filter((f) => f.kind === 'chat_subscribed').length, 2);
  await c.close();
  await h.cleanup();
});

test('made-up session ids hold no live actor and no slot; a watcher of an empty session still gets its first run', async ({ runtime }) => {
  const h = await startHarness(runtime, { limits: { maxLiveSessions: 3 } });
  try {
    const subscribeAll = async (c: Awaited<ReturnType<typeof connect>>, ids: string[]) => {
      c.send({ type: 'chat.subscribe', sessions: ids.map((sessionId) => ({ sessionId })) });
      await c.waitFor((f) => (f.kind === 'chat_subscribed' || f.kind === 'protocol_error') && f.sessionId === ids[ids.length - 1]);
      return {
        acked: c.frames.filter((f) => f.kind === 'chat_subscribed' && ids.includes(String(f.sessionId))).length,
        refused: c.frames.filter((f) => f.kind === 'protocol_error' && f.code === 'INTERNAL_ERROR').length,
      };
    };
    const first = await connect(h.url);
    assert.equal(await subscribeAll(first, ['x1', 'x2', 'x3', 'x4', 'x5']), { acked: 5, refused: 0 }, 'more made-up ids than live slots');
    assert.equal(h.gateway.listActors().chat, [], 'no actor outlives the subscribe that named a made-up id');
    const second = await connect(h.url);
    assert.equal(await subscribeAll(second, ['y1', 'x1']), { acked: 2, refused: 0 });

    // A session that exists but has no events yet is "empty" too: its watcher is kept without an
    // actor and must still see the run another socket starts there.
    const sessionId = h.createSession();
    assert.equal(await subscribeAll(first, [sessionId]), { acked: 1, refused: 0 });
    assert.equal(h.gateway.listActors().chat, []);
    const writer = await connect(h.url);
    writer.send({ type: 'chat.send', sessionId, content: 'hi' });
    const run = await runtime.nextRun();
    run.writer.send({ kind: 'text', content: 'hello' });
    run.writer.send({ kind: 'complete', exitCode: 0 });
    run.resolve();
    const complete = await first.waitFor((f) => f.kind === 'complete' && f.sessionId === sessionId);
    assert.is(complete.seq, 2);
    assert.equal(
      first.frames.filter((f) => f.sessionId === sessionId && typeof f.seq === 'number').map((f) => f.kind),
      ['text', 'complete'],
      'the watcher got the whole run, in order',
    );
    await writer.close();
    await first.close();
    await second.close();

    // A real session with a run keeps its actor (and its in-memory tail) after its subscribers leave.
    const filler = await connect(h.url);
    assert.equal(await subscribeAll(filler, ['w1', 'w2', 'w3']), { acked: 3, refused: 0 });
    assert.equal(
      h.gateway.listActors().chat.map((s) => (s as { sessionId: string }).sessionId),
      [sessionId],
      'only the session with events is live',
    );
    await filler.close();
  } finally {
    await h.cleanup();
  }
});

test.run();
