/** The chat machines alone, with fake actors and a SimulatedClock: no sockets, no disk. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor, createMachine, fromPromise, SimulatedClock } from 'xstate';

import { chatRunMachine, type RuntimeInvocation } from '../machines/chatRun.machine.js';
import { chatSessionMachine, type ChatSessionEmitted, type ChatSessionInput } from '../machines/chatSession.machine.js';

type AbortInput = { provider: string; sessionId: string; runId: string };
const limits = { sessionIdleTtlMs: 1000, lockedSessionTimeoutMs: 5000, abortTimeoutMs: 2000, shutdownAbortGraceMs: 2000, clientMessageIdWindowMs: 600_000 };
const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

function startSession(run: typeof chatRunMachine | ReturnType<typeof createMachine>, input: Partial<ChatSessionInput> = {}) {
  const clock = new SimulatedClock();
  const machine = chatSessionMachine.provide({ actors: { chatRun: run as typeof chatRunMachine } });
  const actor = createActor(machine, { clock, input: { sessionId: 's', latestSeq: 7, limits, ...input } });
  const emitted: ChatSessionEmitted[] = [];
  actor.on('*', (event) => emitted.push(event));
  actor.start();
  const frames = () => emitted.flatMap((e) => (e.type === 'frames' ? (e.frames as readonly Record<string, unknown>[]) : []));
  return { actor, clock, emitted, frames };
}

const send = (runId: string) => ({
  type: 'client.send' as const,
  subscriberId: 'a',
  runId,
  provider: 'p',
  content: '',
  options: {},
  userId: null,
  providerSessionId: null,
  projectPath: null,
  startedAt: 0,
  sessionFound: true,
  providerAvailable: true,
});

test('seq continues from the log; an unwatched idle session closes after its TTL', async () => {
  const hanging = chatRunMachine.provide({
    actors: { runtime: fromPromise<unknown, RuntimeInvocation>(async () => null), abortRuntime: fromPromise<boolean, AbortInput>(async () => true) },
  });
  const { actor, clock, frames } = startSession(hanging);
  actor.send(send('r1'));
  await flush();
  assert.equal(frames().map((f) => f.seq), [8], 'synthetic complete after the runtime resolved');
  assert.is(actor.getSnapshot().value, 'idle');
  actor.send({ type: 'client.unsubscribe', subscriberId: 'a' });
  clock.increment(999);
  assert.is(actor.getSnapshot().status, 'active');
  clock.increment(1);
  assert.is(actor.getSnapshot().status, 'done');
});

test('a watched idle session never closes', async () => {
  const { actor, clock } = startSession(chatRunMachine);
  actor.send({ type: 'client.subscribe', subscriberId: 'a', lastSeq: 0, oldestSeq: 0 });
  clock.increment(10_000);
  assert.is(actor.getSnapshot().status, 'active');
});

test('a session with nothing ever sequenced closes after each subscriber event and hands its watchers back', () => {
  const clock = new SimulatedClock();
  const start = (watchers: string[]) => {
    const actor = createActor(chatSessionMachine, { clock, input: { sessionId: 'made-up', latestSeq: 0, limits, watchers } });
    const subscribed: string[] = [];
    actor.on('subscribed', (event) => subscribed.push(event.subscriberId));
    actor.start();
    return { actor, subscribed };
  };
  const first = start([]);
  first.actor.send({ type: 'client.subscribe', subscriberId: 'a', lastSeq: 0, oldestSeq: 0 });
  assert.equal(first.subscribed, ['a'], 'the subscribe is answered');
  assert.is(first.actor.getSnapshot().status, 'done', 'closed at once, not after the TTL');
  assert.equal(first.actor.getSnapshot().output, { watchers: ['a'] });

  const second = start(['a']);
  second.actor.send({ type: 'client.subscribe', subscriberId: 'b', lastSeq: 0, oldestSeq: 0 });
  assert.equal(second.actor.getSnapshot().output, { watchers: ['a', 'b'] });

  const third = start(['a', 'b']);
  third.actor.send({ type: 'client.unsubscribe', subscriberId: 'a' });
  assert.equal(third.actor.getSnapshot().output, { watchers: ['b'] });
});

test('watchers handed to a new actor get the frames of the run that starts there', () => {
  const hanging = chatRunMachine.provide({
    actors: { runtime: fromPromise<unknown, RuntimeInvocation>(async () => null), abortRuntime: fromPromise<boolean, AbortInput>(async () => true) },
  });
  const { actor, emitted } = startSession(hanging, { latestSeq: 0, watchers: ['w'] });
  actor.send(send('r1'));
  assert.is(actor.getSnapshot().value, 'running');
  assert.equal(actor.getSnapshot().context.subscribers, ['w', 'a'], 'the watcher and the sender');
  actor.send({ type: 'run.message', runId: 'r1', message: { kind: 'text', content: 'hi' } });
  const frame = emitted.find((e) => e.type === 'frames');
  assert.ok(frame && frame.type === 'frames' && frame.subscribers.includes('w'));
});

test('a session with events keeps its actor for the TTL after the last subscriber leaves', () => {
  const { actor, clock } = startSession(chatRunMachine);
  actor.send({ type: 'client.subscribe', subscriberId: 'a', lastSeq: 0, oldestSeq: 0 });
  actor.send({ type: 'client.unsubscribe', subscriberId: 'a' });
  assert.is(actor.getSnapshot().status, 'active');
  clock.increment(1000);
  assert.is(actor.getSnapshot().status, 'done');
});

test('an abort that never answers counts as failed after abortTimeout; locked until lockedSessionTimeout', async () => {
  const stuck = chatRunMachine.provide({
    actors: {
      runtime: fromPromise<unknown, RuntimeInvocation>(() => new Promise(() => {})),
      abortRuntime: fromPromise<boolean, AbortInput>(() => new Promise<boolean>(() => {})),
    },
  });
  const { actor, clock, frames, emitted } = startSession(stuck);
  actor.send(send('r1'));
  actor.send({ type: 'client.abort', subscriberId: 'a' });
  clock.increment(1999);
  assert.equal(frames(), []);
  clock.increment(1);
  assert.is(frames()[0].aborted, true);
  assert.is(frames()[0].exitCode, 1);
  assert.is(actor.getSnapshot().value, 'locked');
  actor.send(send('r2'));
  assert.ok(emitted.some((e) => e.type === 'reply' && e.frame.code === 'RUN_IN_PROGRESS'));
  clock.increment(5000);
  assert.is(actor.getSnapshot().value, 'idle');
});

test('a run actor that fails is completed by its session (never stuck running)', async () => {
  const broken = createMachine({
    entry: () => {
      throw new Error('bug in a run');
    },
  });
  const { actor, frames } = startSession(broken);
  actor.send(send('r1'));
  await flush();
  assert.is(actor.getSnapshot().status, 'active', 'the session survives');
  assert.is(actor.getSnapshot().value, 'idle');
  assert.equal(frames().map((f) => [f.kind, f.exitCode, f.seq]), [['complete', 1, 8]]);
});

test.run();
