import { assertEvent, assign, sendParent, setup, type PromiseActorLogic } from 'xstate';

import type { ChatMessage } from './chatMessage.js';
import { notProvided } from './notProvided.js';

/**
 * One agent run of a chat session. It owns the "exactly one `complete`" rule and the safety net:
 *
 *   running ──complete from runtime──▶ completed ──runtime settles──▶ done
 *      │  └──runtime settles first───▶ (error +) synthetic complete ──▶ done
 *      └──client.abort──▶ aborting ──abort answered / timed out──▶ completed (synthetic aborted complete)
 *
 * The runtime promise is invoked for the actor's whole life, so late events after `complete`
 * are still forwarded (the session sequences them) and a failed abort keeps the session locked
 * until the runtime really settles. Every message leaves through `run.message` to the parent
 * session, which is the only owner of `seq`.
 */

/** What the runtime actor is invoked with: everything the provider runtime needs for one run. */
export interface RuntimeInvocation {
  runId: string;
  /** The app session id. */
  sessionId: string;
  provider: string;
  content: string;
  /** The client's options, as sent (untrusted): the gateway decides what reaches the runtime. */
  options: Record<string, unknown>;
  /** From the session row: where the agent runs. */
  projectPath: string | null;
  userId: string | number | null;
  /** The provider-native id known when the run starts (resume), else null. */
  providerSessionId: string | null;
}

/** What the abort actor is invoked with. */
export interface AbortInvocation {
  provider: string;
  sessionId: string;
  runId: string;
}

export interface ChatRunInput extends RuntimeInvocation {
  abortTimeoutMs: number;
}

export type ChatRunEvent =
  /** A message the runtime sent through its writer (already known to be an object with a string kind). */
  | { type: 'runtime.message'; message: ChatMessage }
  /** The runtime called `writer.setSessionId`. */
  | { type: 'runtime.session-id'; providerSessionId: string }
  | { type: 'client.abort' }
  /** The gateway is shutting down: end the run now with a synthetic aborted `complete`. */
  | { type: 'gateway.shutdown' };

/** What a run tells its session. */
export type ChatRunParentEvent =
  | { type: 'run.message'; runId: string; message: ChatMessage }
  /**
   * Messages a runtime handed over in one go (the writer's batch of one microtask), in order: one
   * session transition for all of them instead of one each (`runtimeWriter.ts`).
   */
  | { type: 'run.messages'; runId: string; messages: readonly ChatMessage[] }
  | { type: 'run.session-id'; runId: string; providerSessionId: string }
  /** The run's one `complete` has been sent; `locksSession` when an abort failed and the runtime lives on. */
  | { type: 'run.ended'; runId: string; locksSession: boolean };

export interface ChatRunContext extends ChatRunInput {
  /** The runtime promise has settled (resolved or rejected). */
  settled: boolean;
}

/**
 * The runtime message kinds this machine has a rule for: the one `complete` of a run, and
 * `session_created` (an announcement, never a frame). Every other kind it forwards unchanged to
 * its session in every state, so the gateway's writer hands those straight to the session as
 * `run.message` (one actor hop per frame instead of two); the session sequences them only while
 * the run lives (`isLiveRun`), which is when this machine would have forwarded them.
 */
export const RUN_MESSAGE_KINDS: ReadonlySet<string> = new Set(['complete', 'session_created']);

const errorText = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === 'string' ? error : 'Runtime failed';

export const chatRunMachine = setup({
  types: {
    context: {} as ChatRunContext,
    input: {} as ChatRunInput,
    events: {} as ChatRunEvent,
  },
  actors: {
    /** Calls the provider runtime; supplied by the gateway. Resolves or rejects when the runtime settles. */
    runtime: notProvided<PromiseActorLogic<unknown, RuntimeInvocation>>('chatRun.machine', 'runtime'),
    /** Asks the runtime to abort; resolves true when it did. Supplied by the gateway. */
    abortRuntime: notProvided<PromiseActorLogic<boolean, AbortInvocation>>('chatRun.machine', 'abortRuntime'),
  },
  delays: {
    abortTimeout: ({ context }) => context.abortTimeoutMs,
  },
  guards: {
    isSessionCreated: ({ event }) => event.type === 'runtime.message' && event.message.kind === 'session_created',
    isComplete: ({ event }) => event.type === 'runtime.message' && event.message.kind === 'complete',
    abortSucceeded: ({ event }) => (event as unknown as { output: unknown }).output === true,
    isSettled: ({ context }) => context.settled,
  },
  actions: {
    forward: sendParent(({ context, event }) => {
      assertEvent(event, 'runtime.message');
      return { type: 'run.message', runId: context.runId, message: event.message };
    }),
    announceCreatedSession: sendParent(({ context, event }) => {
      assertEvent(event, 'runtime.message');
      const { message } = event;
      const announced = typeof message.newSessionId === 'string' && message.newSessionId
        ? message.newSessionId
        : typeof message.sessionId === 'string' ? message.sessionId : '';
      return { type: 'run.session-id', runId: context.runId, providerSessionId: announced };
    }),
    announceSessionId: sendParent(({ context, event }) => {
      assertEvent(event, 'runtime.session-id');
      return { type: 'run.session-id', runId: context.runId, providerSessionId: event.providerSessionId };
    }),
    reportRuntimeError: sendParent(({ context, event }) => ({
      type: 'run.message',
      runId: context.runId,
      message: {
        kind: 'error',
        provider: context.provider,
        content: errorText((event as unknown as { error: unknown }).error),
      },
    })),
    completeAfterSettle: sendParent(({ context }) => ({
      type: 'run.message',
      runId: context.runId,
      message: { kind: 'complete', provider: context.provider, exitCode: 1, aborted: false },
    })),
    completeAborted: sendParent(({ context }, params: { exitCode: number }) => ({
      type: 'run.message',
      runId: context.runId,
      message: { kind: 'complete', provider: context.provider, exitCode: params.exitCode, aborted: true },
    })),
    endRun: sendParent(({ context }, params: { locksSession: boolean }) => ({
      type: 'run.ended',
      runId: context.runId,
      locksSession: params.locksSession,
    })),
    markSettled: assign({ settled: true }),
  },
}).createMachine({
  id: 'chatRun',
  context: ({ input }) => ({ ...input, settled: false }),
  invoke: {
    id: 'runtime',
    src: 'runtime',
    input: ({ context }) => ({
      runId: context.runId,
      sessionId: context.sessionId,
      provider: context.provider,
      content: context.content,
      options: context.options,
      projectPath: context.projectPath,
      userId: context.userId,
      providerSessionId: context.providerSessionId,
    }),
  },
  initial: 'running',
  states: {
    running: {
      on: {
        'runtime.message': {
          guard: 'isComplete',
          target: 'completed',
          actions: ['forward', { type: 'endRun', params: { locksSession: false } }],
        },
        'client.abort': { target: 'aborting' },
        'gateway.shutdown': {
          target: 'completed',
          actions: [
            { type: 'completeAborted', params: { exitCode: 1 } },
            { type: 'endRun', params: { locksSession: false } },
          ],
        },
        // Safety net: the runtime settled without its own `complete`.
        'xstate.done.actor.runtime': {
          target: 'done',
          actions: ['markSettled', 'completeAfterSettle', { type: 'endRun', params: { locksSession: false } }],
        },
        'xstate.error.actor.runtime': {
          target: 'done',
          actions: [
            'markSettled',
            'reportRuntimeError',
            'completeAfterSettle',
            { type: 'endRun', params: { locksSession: false } },
          ],
        },
      },
    },
    aborting: {
      invoke: {
        src: 'abortRuntime',
        input: ({ context }) => ({ provider: context.provider, sessionId: context.sessionId, runId: context.runId }),
        onDone: [
          {
            guard: 'abortSucceeded',
            target: 'completed',
            actions: [
              { type: 'completeAborted', params: { exitCode: 0 } },
              { type: 'endRun', params: { locksSession: false } },
            ],
          },
          { target: 'abortFailed' },
        ],
        onError: { target: 'abortFailed' },
      },
      after: {
        abortTimeout: { target: 'abortFailed' },
      },
      on: {
        // Committed to the synthetic aborted `complete`: the runtime's own is dropped.
        'runtime.message': { guard: 'isComplete' },
        'gateway.shutdown': {
          target: 'completed',
          actions: [
            { type: 'completeAborted', params: { exitCode: 1 } },
            { type: 'endRun', params: { locksSession: false } },
          ],
        },
        // A runtime that stops because of the abort often rejects; the aborted complete says enough.
        'xstate.done.actor.runtime': { actions: 'markSettled' },
        'xstate.error.actor.runtime': { actions: 'markSettled' },
      },
    },
    abortFailed: {
      // Transient: decides whether the session must stay locked until the runtime settles.
      always: [
        {
          guard: 'isSettled',
          target: 'completed',
          actions: [
            { type: 'completeAborted', params: { exitCode: 1 } },
            { type: 'endRun', params: { locksSession: false } },
          ],
        },
        {
          target: 'completed',
          actions: [
            { type: 'completeAborted', params: { exitCode: 1 } },
            { type: 'endRun', params: { locksSession: true } },
          ],
        },
      ],
    },
    completed: {
      always: { guard: 'isSettled', target: 'done' },
      on: {
        // Exactly one `complete` per run: later ones are dropped and consume no seq.
        'runtime.message': { guard: 'isComplete' },
        'xstate.done.actor.runtime': { target: 'done', actions: 'markSettled' },
        'xstate.error.actor.runtime': { target: 'done', actions: 'markSettled' },
      },
    },
    done: { type: 'final' },
  },
  // What every state does with runtime output its own handlers let through: `session_created`
  // is an announcement (never a frame), everything else goes to the session to be sequenced.
  on: {
    'runtime.message': [{ guard: 'isSessionCreated', actions: 'announceCreatedSession' }, { actions: 'forward' }],
    'runtime.session-id': { actions: 'announceSessionId' },
  },
});
