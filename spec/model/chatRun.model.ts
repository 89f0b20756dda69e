/**
 * The chat run under model-based test: a run is a child of a recording parent (it talks by
 * `sendParent`); its runtime and abort are promises the path settles. Invariants: at most one
 * `complete` and one `run.ended`, ever; a run that reached `completed` or `done` sent exactly one
 * of each, the `complete` first; `done` only once the runtime settled; a session is locked only
 * by a failed abort whose runtime lives on.
 */
import { createActor, createMachine, fromPromise, SimulatedClock, type AnyEventObject, type AnyStateMachine } from 'xstate';

import { chatRunMachine, type ChatRunInput, type ChatRunParentEvent } from '../../machines/chatRun.machine.js';
import { afterDelay, deferred, invariant, settle, type Deferred, type MachineModel, type PathStep, type Snapshot } from './pathCoverage.js';

const input: ChatRunInput = {
  runId: 'run-1',
  sessionId: 'session-1',
  provider: 'scripted',
  content: 'hello',
  options: {},
  userId: null,
  providerSessionId: null,
  projectPath: null,
  abortTimeoutMs: 1000,
};

const abortingNode = chatRunMachine.getStateNodeById('chatRun.aborting');
const ABORT_INVOKE = abortingNode.invoke[0].id;
const ABORT_TIMEOUT = abortingNode.after[0].eventType;

const traversal = chatRunMachine.provide({
  actors: {
    runtime: fromPromise(() => new Promise<unknown>(() => {})),
    abortRuntime: fromPromise(() => new Promise<boolean>(() => {})),
  },
});

const message = (kind: string, extra: Record<string, unknown> = {}) => ({ type: 'runtime.message', message: { kind, ...extra } });

/** `live`: the machine the paths run on (the real one; a broken copy shows the model can fail). */
export function createChatRunModel(live: AnyStateMachine = chatRunMachine): MachineModel {
  return {
  name: 'chatRun',
  machine: chatRunMachine,
  traversal,
  configurations: [{ label: 'default', input }],

  serializeState: (snapshot) => JSON.stringify([snapshot.value, snapshot.context.settled, snapshot.status]),

  events(snapshot) {
    if (snapshot.status !== 'active') return [];
    const events: AnyEventObject[] = [
      message('text', { content: 'hi' }),
      message('complete', { exitCode: 0 }),
      message('session_created', { newSessionId: 'native-1' }),
      { type: 'runtime.session-id', providerSessionId: 'native-2' },
      { type: 'client.abort' },
      { type: 'gateway.shutdown' },
    ];
    if (!snapshot.context.settled) {
      events.push({ type: 'xstate.done.actor.runtime', output: undefined, actorId: 'runtime' });
      events.push({ type: 'xstate.error.actor.runtime', error: new Error('runtime failed'), actorId: 'runtime' });
    }
    if (snapshot.matches('aborting')) {
      events.push({ type: `xstate.done.actor.${ABORT_INVOKE}`, output: true, actorId: ABORT_INVOKE });
      events.push({ type: `xstate.done.actor.${ABORT_INVOKE}`, output: false, actorId: ABORT_INVOKE });
      events.push({ type: `xstate.error.actor.${ABORT_INVOKE}`, error: new Error('abort failed'), actorId: ABORT_INVOKE });
      events.push({ type: ABORT_TIMEOUT });
    }
    return events;
  },

  async execute(steps: PathStep[], _configuration, inspect) {
    const clock = new SimulatedClock();
    const controls: { runtime: Deferred<unknown> | null; abort: Deferred<boolean> | null } = { runtime: null, abort: null };
    const toParent: ChatRunParentEvent[] = [];
    const run = (live as typeof chatRunMachine).provide({
      actors: {
        runtime: fromPromise(() => (controls.runtime = deferred<unknown>()).promise),
        abortRuntime: fromPromise(() => (controls.abort = deferred<boolean>()).promise),
      },
    });
    const parent = createMachine({
      invoke: { id: 'run', src: 'run', input },
      on: {
        'run.*': { actions: ({ event }) => void toParent.push(event as ChatRunParentEvent) },
      },
    }).provide({ actors: { run } });
    const root = createActor(parent, { clock, inspect });
    root.start();
    const child = () => root.getSnapshot().children.run;
    const childSnapshot = (): Snapshot | null => (child()?.getSnapshot() as Snapshot | undefined) ?? null;
    let settled = false;
    let settledAtEnd: boolean | null = null;
    let done = false;

    for (const step of steps) {
      const { event } = step;
      const type = event.type;
      if (type === 'xstate.done.actor.runtime' || type === 'xstate.error.actor.runtime') {
        const runtime = controls.runtime;
        invariant(runtime, 'the runtime was invoked');
        if (type === 'xstate.done.actor.runtime') runtime.resolve(undefined);
        else runtime.reject((event as { error?: unknown }).error);
        settled = true;
        await settle();
      } else if (type === `xstate.done.actor.${ABORT_INVOKE}` || type === `xstate.error.actor.${ABORT_INVOKE}`) {
        const abort = controls.abort;
        invariant(abort, 'abortRuntime was invoked');
        if (type.startsWith('xstate.done')) abort.resolve((event as { output?: unknown }).output === true);
        else abort.reject((event as { error?: unknown }).error);
        await settle();
      } else if (type === ABORT_TIMEOUT) {
        clock.increment(afterDelay(chatRunMachine, type, childSnapshot()?.context ?? {}));
      } else {
        child()?.send(event);
      }

      // The live run follows the model.
      const live = childSnapshot();
      if (live) {
        invariant(JSON.stringify(live.value) === JSON.stringify(step.state.value), `live state ${JSON.stringify(live.value)}, model says ${JSON.stringify(step.state.value)}`);
      } else {
        done = true;
        invariant(step.state.status === 'done', `the run ended but the model says ${JSON.stringify(step.state.value)}`);
      }

      const completes = toParent.filter((sent) => sent.type === 'run.message' && sent.message.kind === 'complete');
      const ended = toParent.filter((sent): sent is Extract<ChatRunParentEvent, { type: 'run.ended' }> => sent.type === 'run.ended');
      invariant(completes.length <= 1, `${completes.length} complete messages`);
      invariant(ended.length <= 1, `${ended.length} run.ended`);
      const finished = done || step.state.matches('completed') || step.state.matches('done');
      if (finished) {
        invariant(completes.length === 1 && ended.length === 1, 'a finished run sent exactly one complete and one run.ended');
        invariant(toParent.indexOf(completes[0]) < toParent.indexOf(ended[0]), 'the complete precedes run.ended');
      }
      if (step.state.matches('done')) invariant(settled, 'done only after the runtime settled');
      if (ended.length === 1 && settledAtEnd === null) settledAtEnd = settled;
      if (ended[0]?.locksSession) {
        const complete = completes[0] as Extract<ChatRunParentEvent, { type: 'run.message' }>;
        invariant(complete.message.aborted === true && complete.message.exitCode === 1, 'a locking end follows a failed abort');
        invariant(settledAtEnd === false, 'only a runtime that is still alive locks the session');
      }
      for (const sent of toParent) invariant(sent.runId === input.runId, 'every message names its run');
    }
    root.stop();
  },
};
}

export const chatRunModel = createChatRunModel();
