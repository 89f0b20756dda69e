import { and, assign, emit, enqueueActions, sendTo, setup, stopChild } from 'xstate';

import { chatRunMachine, type ChatRunParentEvent } from './chatRun.machine.js';
import {
  sequenceMessage,
  type ChatMessage,
  type PendingPermission,
  type SequencedFrame,
} from './chatMessage.js';
import { protocolError, type ProtocolErrorFrame } from './protocolErrors.js';

/**
 * One app chat session: the only owner of its `seq`, its subscriber set and its current run.
 *
 *   idle ──client.send──▶ running ──run.ended──▶ idle
 *                            └──run.ended (abort failed, runtime alive)──▶ locked ──run settles──▶ idle
 *   idle (no subscribers, no live run, sessionIdleTtl) ──▶ closed
 *   idle, nothing ever sequenced, a subscriber comes or goes ──▶ closed (at once, watchers as output)
 *
 * Runs are child actors (`chatRun.machine.ts`); each run's messages come back as `run.message`
 * and get the next `seq` here, whichever run they belong to, so seq is monotonic per session
 * across runs. Subscribers are opaque ids: the gateway keeps the id → socket map, reads the
 * durable log for replay, and does all I/O in response to the events this machine emits.
 */

export interface ChatSessionLimits {
  sessionIdleTtlMs: number;
  lockedSessionTimeoutMs: number;
  abortTimeoutMs: number;
}

export interface ChatSessionInput {
  sessionId: string;
  /** The highest seq already in the durable log (0 for a new session). */
  latestSeq: number;
  limits: ChatSessionLimits;
  /** Subscribers an earlier actor of this session handed back when it closed (its output). */
  watchers?: readonly string[];
}

/**
 * What a closed session hands back: the subscribers still watching it. Only a session in which
 * nothing was ever sequenced closes while watched; the gateway keeps its watchers without an
 * actor and passes them to the next one (`ChatSessionInput.watchers`), so a made-up session id
 * costs a live actor only for the subscribe that named it.
 */
export interface ChatSessionOutput {
  watchers: readonly string[];
}

export interface RunRequest {
  runId: string;
  provider: string;
  content: string;
  /** The client's options, as sent (untrusted). */
  options: Record<string, unknown>;
  /** From the session row: where the agent runs. */
  projectPath: string | null;
  userId: string | number | null;
  providerSessionId: string | null;
  /** Epoch ms, stamped by the gateway (machines have no wall clock). */
  startedAt: number;
}

export interface PermissionDecisionInput {
  allow: boolean;
  updatedInput?: unknown;
  message?: string;
  rememberEntry?: unknown;
}

export type ChatSessionEvent =
  /** `history`: [ours] a client with `lastSeq` 0 asks for every retained event, earlier runs too. */
  | { type: 'client.subscribe'; subscriberId: string; lastSeq: number; history?: boolean }
  | { type: 'client.unsubscribe'; subscriberId: string }
  /** `subscriberId` null: a run started with no socket (the sender is not auto-subscribed). */
  | ({ type: 'client.send'; subscriberId: string | null } & RunRequest)
  | { type: 'client.abort'; subscriberId: string }
  | { type: 'client.permission-response'; subscriberId: string; requestId: string; decision: PermissionDecisionInput }
  /** Ends a running run at once with a synthetic aborted `complete` (gateway shutdown). */
  | { type: 'gateway.shutdown' }
  | ChatRunParentEvent;

export type ChatSessionEmitted =
  /** A sequenced event: log it, then send it to `subscribers`. */
  | { type: 'frame'; frame: SequencedFrame; subscribers: readonly string[] }
  /** A frame for one socket only (errors). */
  | { type: 'reply'; subscriberId: string; frame: ProtocolErrorFrame }
  /**
   * A subscribe was accepted: the gateway sends `chat_subscribed`, then replays the log after
   * `replayAfter` (null: no replay), then live frames follow.
   */
  | {
      type: 'subscribed';
      subscriberId: string;
      isProcessing: boolean;
      lastSeq: number;
      runId: string | null;
      clientLastSeq: number;
      replayAfter: number | null;
      pendingPermissions: readonly PendingPermission[];
    }
  | { type: 'run.started'; runId: string; provider: string; startedAt: number }
  | { type: 'permission.resolve'; requestId: string; decision: PermissionDecisionInput }
  /** The provider-native id changed: store it and broadcast `session_upserted`. */
  | { type: 'session-id.assigned'; providerSessionId: string };

export interface CurrentRun {
  runId: string;
  provider: string;
  startedAt: number;
  /** The seq its first event gets (or got): where a fresh client's replay of this run starts. */
  firstSeq: number;
}

export interface ChatSessionContext {
  sessionId: string;
  seq: number;
  subscribers: readonly string[];
  currentRun: CurrentRun | null;
  /** The run whose failed abort locks the session, until it settles. */
  lockedBy: string | null;
  /** Runs whose actor is still alive (their runtime has not settled). */
  liveRuns: readonly string[];
  providerSessionId: string | null;
  pendingPermissions: readonly PendingPermission[];
  limits: ChatSessionLimits;
}

type Ev<T extends ChatSessionEvent['type']> = Extract<ChatSessionEvent, { type: T }>;

const runActorId = (runId: string) => `run:${runId}`;
const runIdOfActor = (actorId: string) => (actorId.startsWith('run:') ? actorId.slice(4) : actorId);

export const chatSessionMachine = setup({
  types: {
    context: {} as ChatSessionContext,
    input: {} as ChatSessionInput,
    output: {} as ChatSessionOutput,
    events: {} as ChatSessionEvent,
    emitted: {} as ChatSessionEmitted,
  },
  actors: {
    chatRun: chatRunMachine,
  },
  delays: {
    sessionIdleTtl: ({ context }) => context.limits.sessionIdleTtlMs,
    lockedSessionTimeout: ({ context }) => context.limits.lockedSessionTimeoutMs,
  },
  guards: {
    canClose: ({ context }) => context.subscribers.length === 0 && context.liveRuns.length === 0,
    // Nothing was ever sequenced here and nothing runs, so a live actor buys its watchers nothing
    // (the gateway keeps them); subscribing to made-up ids must not hold live-session slots.
    isEmpty: ({ context }) => context.seq === 0 && context.liveRuns.length === 0,
    isCurrentRun: ({ context, event }) => context.currentRun?.runId === (event as Ev<'run.ended'>).runId,
    locksSession: ({ event }) => (event as Ev<'run.ended'>).locksSession,
    isCurrentRunActor: ({ context, event }) =>
      context.currentRun !== null &&
      runIdOfActor((event as unknown as { actorId: string }).actorId) === context.currentRun.runId,
    isLockingRun: ({ context, event }) =>
      context.lockedBy !== null && runIdOfActor((event as unknown as { actorId: string }).actorId) === context.lockedBy,
    isNewSessionId: ({ context, event }) => {
      const id = (event as Ev<'run.session-id'>).providerSessionId;
      return typeof id === 'string' && id.length > 0 && id !== context.providerSessionId;
    },
    canResolvePermission: ({ context, event }) => {
      const { requestId, subscriberId } = event as Ev<'client.permission-response'>;
      return (
        context.subscribers.includes(subscriberId) &&
        context.pendingPermissions.some((pending) => pending.requestId === requestId)
      );
    },
  },
  actions: {
    addSubscriber: assign({
      subscribers: ({ context, event }) => {
        const { subscriberId } = event as Ev<'client.subscribe'>;
        return context.subscribers.includes(subscriberId) ? context.subscribers : [...context.subscribers, subscriberId];
      },
    }),
    removeSubscriber: assign({
      subscribers: ({ context, event }) =>
        context.subscribers.filter((id) => id !== (event as Ev<'client.unsubscribe'>).subscriberId),
    }),
    emitSubscribed: emit(({ context, event }, params: { running: boolean }) => {
      const { subscriberId, lastSeq, history } = event as Ev<'client.subscribe'>;
      return {
        type: 'subscribed' as const,
        subscriberId,
        isProcessing: params.running,
        lastSeq: context.seq,
        runId: context.currentRun?.runId ?? null,
        clientLastSeq: lastSeq,
        replayAfter: replayStart(context, lastSeq, params.running, history === true),
        pendingPermissions: context.pendingPermissions,
      };
    }),
    startRun: assign(({ context, event, spawn }) => {
      const request = event as Ev<'client.send'>;
      spawn('chatRun', {
        id: runActorId(request.runId),
        systemId: `chat-run:${request.runId}`,
        input: {
          runId: request.runId,
          sessionId: context.sessionId,
          provider: request.provider,
          content: request.content,
          options: request.options,
          projectPath: request.projectPath,
          userId: request.userId,
          providerSessionId: request.providerSessionId ?? context.providerSessionId,
          abortTimeoutMs: context.limits.abortTimeoutMs,
        },
      });
      const subscribers =
        request.subscriberId === null || context.subscribers.includes(request.subscriberId)
          ? context.subscribers
          : [...context.subscribers, request.subscriberId];
      return {
        subscribers,
        currentRun: { runId: request.runId, provider: request.provider, startedAt: request.startedAt, firstSeq: context.seq + 1 },
        liveRuns: [...context.liveRuns, request.runId],
        providerSessionId: request.providerSessionId ?? context.providerSessionId,
      };
    }),
    emitRunStarted: emit(({ event }) => {
      const request = event as Ev<'client.send'>;
      return {
        type: 'run.started' as const,
        runId: request.runId,
        provider: request.provider,
        startedAt: request.startedAt,
      };
    }),
    forwardAbort: sendTo(
      ({ context }) => runActorId(context.currentRun?.runId ?? ''),
      { type: 'client.abort' },
    ),
    forwardShutdown: sendTo(
      ({ context }) => runActorId(context.currentRun?.runId ?? ''),
      { type: 'gateway.shutdown' } as never,
    ),
    sequence: enqueueActions(({ context, event, enqueue }) => {
      const { runId, message } = event as Ev<'run.message'>;
      const seq = context.seq + 1;
      const frame = sequenceMessage(message, context.sessionId, seq, runId);
      enqueue.assign({ seq, pendingPermissions: trackPermissions(context.pendingPermissions, runId, message) });
      enqueue.emit({ type: 'frame', frame, subscribers: context.subscribers });
    }),
    endCurrentRun: assign(({ context, event }) => ({
      currentRun: null,
      lockedBy: (event as Ev<'run.ended'>).locksSession ? (event as Ev<'run.ended'>).runId : null,
      // Approvals of a finished run can no longer be answered.
      pendingPermissions: context.pendingPermissions.filter((p) => p.runId !== (event as Ev<'run.ended'>).runId),
    })),
    /** The current run's actor failed: its session completes it, so it is never stuck running. */
    completeFailedRun: enqueueActions(({ context, enqueue }) => {
      const run = context.currentRun;
      if (!run) return;
      const seq = context.seq + 1;
      const frame = sequenceMessage(
        { kind: 'complete', provider: run.provider, exitCode: 1, aborted: false },
        context.sessionId,
        seq,
        run.runId,
      );
      enqueue.assign({
        seq,
        currentRun: null,
        pendingPermissions: context.pendingPermissions.filter((p) => p.runId !== run.runId),
      });
      enqueue.emit({ type: 'frame', frame, subscribers: context.subscribers });
    }),
    unlock: assign({ lockedBy: null }),
    forgetRun: assign({
      liveRuns: ({ context, event }) => {
        const runId = runIdOfActor((event as unknown as { actorId: string }).actorId);
        return context.liveRuns.filter((id) => id !== runId);
      },
    }),
    stopRunActor: stopChild(({ event }) => (event as unknown as { actorId: string }).actorId),
    assignSessionId: assign({ providerSessionId: ({ event }) => (event as Ev<'run.session-id'>).providerSessionId }),
    emitSessionId: emit(({ event }) => ({
      type: 'session-id.assigned' as const,
      providerSessionId: (event as Ev<'run.session-id'>).providerSessionId,
    })),
    resolvePermission: enqueueActions(({ context, event, enqueue }) => {
      const { requestId, decision } = event as Ev<'client.permission-response'>;
      enqueue.assign({ pendingPermissions: context.pendingPermissions.filter((p) => p.requestId !== requestId) });
      enqueue.emit({ type: 'permission.resolve', requestId, decision });
    }),
    reply: emit(({ context, event }, params: { code: 'RUN_IN_PROGRESS' | 'NO_ACTIVE_RUN' | 'UNKNOWN_PERMISSION_REQUEST' }) => ({
      type: 'reply' as const,
      subscriberId: (event as { subscriberId?: string | null }).subscriberId ?? '',
      frame: protocolError(params.code, context.sessionId),
    })),
  },
}).createMachine({
  id: 'chatSession',
  context: ({ input }) => ({
    sessionId: input.sessionId,
    seq: input.latestSeq,
    subscribers: input.watchers ?? [],
    currentRun: null,
    lockedBy: null,
    liveRuns: [],
    providerSessionId: null,
    pendingPermissions: [],
    limits: input.limits,
  }),
  on: {
    'client.unsubscribe': { actions: 'removeSubscriber' },
    'run.message': { actions: 'sequence' },
    'run.session-id': { guard: 'isNewSessionId', actions: ['assignSessionId', 'emitSessionId'] },
    'client.permission-response': [
      { guard: 'canResolvePermission', actions: 'resolvePermission' },
      { actions: { type: 'reply', params: { code: 'UNKNOWN_PERMISSION_REQUEST' } } },
    ],
    'xstate.done.actor.*': { actions: ['forgetRun', 'stopRunActor'] },
    // A run actor that failed (a bug, not a runtime failure: those are values) is released
    // rather than taking the session down with it.
    'xstate.error.actor.*': { actions: ['forgetRun', 'stopRunActor'] },
  },
  initial: 'idle',
  states: {
    idle: {
      on: {
        'client.subscribe': [
          { guard: 'isEmpty', target: 'closed', actions: ['addSubscriber', { type: 'emitSubscribed', params: { running: false } }] },
          { actions: ['addSubscriber', { type: 'emitSubscribed', params: { running: false } }] },
        ],
        'client.unsubscribe': [{ guard: 'isEmpty', target: 'closed', actions: 'removeSubscriber' }, { actions: 'removeSubscriber' }],
        'client.send': { target: 'running', actions: ['startRun', 'emitRunStarted'] },
        'client.abort': { actions: { type: 'reply', params: { code: 'NO_ACTIVE_RUN' } } },
      },
      after: {
        // Re-entering restarts the timer, so a watched session is re-checked once per TTL.
        sessionIdleTtl: [{ guard: 'canClose', target: 'closed' }, { target: 'idle', reenter: true }],
      },
    },
    running: {
      on: {
        'client.subscribe': { actions: ['addSubscriber', { type: 'emitSubscribed', params: { running: true } }] },
        'client.send': { actions: { type: 'reply', params: { code: 'RUN_IN_PROGRESS' } } },
        'client.abort': { actions: 'forwardAbort' },
        'gateway.shutdown': { actions: 'forwardShutdown' },
        'run.ended': [
          { guard: and(['isCurrentRun', 'locksSession']), target: 'locked', actions: 'endCurrentRun' },
          { guard: 'isCurrentRun', target: 'idle', actions: 'endCurrentRun' },
        ],
        'xstate.error.actor.*': [
          { guard: 'isCurrentRunActor', target: 'idle', actions: ['completeFailedRun', 'forgetRun', 'stopRunActor'] },
          { actions: ['forgetRun', 'stopRunActor'] },
        ],
      },
    },
    locked: {
      on: {
        'client.subscribe': { actions: ['addSubscriber', { type: 'emitSubscribed', params: { running: false } }] },
        'client.send': { actions: { type: 'reply', params: { code: 'RUN_IN_PROGRESS' } } },
        'client.abort': { actions: { type: 'reply', params: { code: 'NO_ACTIVE_RUN' } } },
        'xstate.done.actor.*': [
          { guard: 'isLockingRun', target: 'idle', actions: ['forgetRun', 'stopRunActor', 'unlock'] },
          { actions: ['forgetRun', 'stopRunActor'] },
        ],
      },
      after: {
        lockedSessionTimeout: { target: 'idle', actions: 'unlock' },
      },
    },
    closed: { type: 'final' },
  },
  output: ({ context }) => ({ watchers: context.subscribers }),
});

/**
 * Where a subscriber's replay starts (the seq after which logged events are resent), or null for
 * no replay. A client that has seen part of the log (`0 < lastSeq < seq`) gets everything after
 * it, across runs [ours]. A fresh client (`lastSeq` 0) of a running session gets that run only,
 * from its first seq, as the baseline did: never an earlier run, whose `complete` a client would
 * take for the end of the run it shows. A fresh client of an idle session gets nothing (history
 * is the host's or REST's job), unless it asks for `history` [ours]: then every retained event.
 */
function replayStart(context: ChatSessionContext, lastSeq: number, running: boolean, history: boolean): number | null {
  if (lastSeq > 0) return lastSeq < context.seq ? lastSeq : null;
  if (history) return context.seq > 0 ? 0 : null;
  if (running && context.currentRun) return Math.min(context.currentRun.firstSeq - 1, context.seq);
  return null;
}

/** Pending approvals as the session's runs announce and cancel them. */
function trackPermissions(
  pending: readonly PendingPermission[],
  runId: string,
  message: ChatMessage,
): readonly PendingPermission[] {
  if (message.kind === 'permission_request' && typeof message.requestId === 'string') {
    if (pending.some((p) => p.requestId === message.requestId)) return pending;
    return [...pending, { requestId: message.requestId, runId, toolName: message.toolName, input: message.input }];
  }
  if (message.kind === 'permission_cancelled' && typeof message.requestId === 'string') {
    return pending.filter((p) => p.requestId !== message.requestId);
  }
  return pending;
}
