/**
 * Issue 14: what a reloading claudecodeui page gets. Its client keeps the highest seq in memory
 * only, so after a reload it subscribes with `lastSeq: 0`, then (a moment later) again with a
 * `lastSeq` one frame behind what it already holds; and it takes any `complete` it receives for
 * the end of the run it shows. Real sockets, a real SQLite log, a scripted runtime.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

import { connect, createScriptedRuntime, startHarness, until, type Frame, type Harness, type ScriptedRuntime, type TestClient } from './support/chatHarness.js';

const test = suite<{ h: Harness; runtime: ScriptedRuntime }>('chat: reload replay');

test.before.each(async (ctx) => {
  ctx.runtime = createScriptedRuntime();
  ctx.h = await startHarness(ctx.runtime);
});
test.after.each(async (ctx) => {
  await ctx.h.cleanup();
});

/** Runs one whole run (3 texts and a complete) in the session; returns its runId. */
async function finishedRun(h: Harness, runtime: ScriptedRuntime, sessionId: string): Promise<string> {
  const sender = await connect(h.url);
  sender.send({ type: 'chat.send', sessionId, content: 'run 1' });
  const run = await runtime.nextRun();
  for (const word of ['one', 'two', 'three']) run.writer.send({ kind: 'text', content: word });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  const complete = await sender.waitFor((f) => f.kind === 'complete');
  await sender.close();
  return String(complete.runId);
}

/** The page as claudecodeui's client behaves: max seq in memory, a run ends at any complete. */
function claudecodeuiPage(client: TestClient, sessionId: string) {
  const seen = new Set<number>();
  const duplicates: number[] = [];
  const completes: Frame[] = [];
  let maxSeq = 0;
  client.ws.on('message', (data) => {
    const frame = JSON.parse(data.toString()) as Frame;
    if (frame.sessionId !== sessionId || typeof frame.seq !== 'number') return;
    if (seen.has(frame.seq)) duplicates.push(frame.seq);
    seen.add(frame.seq);
    maxSeq = Math.max(maxSeq, frame.seq);
    if (frame.kind === 'complete') completes.push(frame);
  });
  return { duplicates, completes, maxSeq: () => maxSeq };
}

test('a page reloaded during run 2 gets run 2 only, from its first event, and no frame twice', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  const run1 = await finishedRun(h, runtime, sessionId);

  const sender = await connect(h.url);
  sender.send({ type: 'chat.send', sessionId, content: 'run 2' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'second' });
  run.writer.send({ kind: 'text', content: 'answer' });
  await sender.waitFor((f) => f.kind === 'text' && f.content === 'answer');

  // The reload: a new socket, lastSeq 0.
  const page = await connect(h.url);
  const view = claudecodeuiPage(page, sessionId);
  page.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  const ack = await page.waitFor((f) => f.kind === 'chat_subscribed');
  assert.is(ack.isProcessing, true);
  assert.is(ack.lastSeq, 6, 'run 1 took seqs 1-4, run 2 has 5-6 so far');
  await until(() => view.maxSeq() === 6, 5000, 'the replay of run 2');
  const replayed = page.frames.filter((f) => typeof f.seq === 'number');
  assert.equal(replayed.map((f) => f.seq), [5, 6], 'run 2 from its first seq');
  assert.ok(replayed.every((f) => f.runId !== run1), 'nothing of run 1');

  // Its second subscribe names a seq one frame behind what it holds.
  page.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: view.maxSeq() - 1 }] });
  await page.waitFor((f) => f.kind === 'chat_subscribed', 5000, page.frames.indexOf(ack) + 1);
  run.writer.send({ kind: 'text', content: 'live' });
  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await page.waitFor((f) => f.kind === 'complete');
  await until(() => view.maxSeq() === 8, 5000, 'the rest of run 2');

  assert.equal(view.duplicates, [], 'no frame was sent to the page twice');
  assert.is(view.completes.length, 1, 'exactly one complete: run 2');
  assert.is(view.completes[0].runId, ack.runId);
  assert.equal(page.seqs(sessionId), [5, 6, 7, 8]);
  await page.close();
  await sender.close();
});

test('lastSeq 0 with history: true replays every retained run; 0 < lastSeq keeps the cross-run replay', async ({ h, runtime }) => {
  const sessionId = h.createSession();
  await finishedRun(h, runtime, sessionId);
  const sender = await connect(h.url);
  sender.send({ type: 'chat.send', sessionId, content: 'run 2' });
  const run = await runtime.nextRun();
  run.writer.send({ kind: 'text', content: 'second' });
  await sender.waitFor((f) => f.kind === 'text' && f.content === 'second');

  const full = await connect(h.url);
  full.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0, history: true }] });
  await until(() => full.seqs(sessionId).length === 5, 5000, 'the whole history');
  assert.equal(full.seqs(sessionId), [1, 2, 3, 4, 5]);

  const resuming = await connect(h.url);
  resuming.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 2 }] });
  await until(() => resuming.seqs(sessionId).length === 3, 5000, 'the cross-run replay');
  assert.equal(resuming.seqs(sessionId), [3, 4, 5], "run 1's end (its complete included) and run 2");

  run.writer.send({ kind: 'complete', exitCode: 0 });
  run.resolve();
  await sender.waitFor((f) => f.kind === 'complete' && f.seq === 6);

  // After run 2 ended a fresh page gets no replay (history is on request), as in the baseline.
  const fresh = await connect(h.url);
  fresh.send({ type: 'chat.subscribe', sessions: [{ sessionId, lastSeq: 0 }] });
  const ack = await fresh.waitFor((f) => f.kind === 'chat_subscribed');
  assert.is(ack.isProcessing, false);
  await fresh.close();
  assert.equal(fresh.seqs(sessionId), []);
  await Promise.all([full.close(), resuming.close(), sender.close()]);
});

test.run();
