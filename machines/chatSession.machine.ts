import { and, assertEvent, assign, emit, enqueueActions, raise, sendTo, setup, stopChild } from 'xstate';

import { chatRunMachine } from './chatRun.machine.js';
import { sequenceMessage, type ChatMessage, type PendingPermission, type SequencedFrame } from './chatMessage.js';
import {
  MAX_RECENT_CLIENT_MESSAGE_IDS,
  type ChatSessionContext,
  type ChatSessionEmitted,
  type ChatSessionEvent,
  type ChatSessionInput,
  type ChatSessionOutput,
  type RecentSend,
  type SubscriptionView,
} from './chatSession.types.js';
import { protocolError, type ProtocolErrorCode } from './protocolErrors.js';

// Its types are its own module; importers of the machine get them here too.
export * from './chatSession.types.js';

/**
 * One app chat session: the owner of the chat protocol for its id. It holds the session's `seq`,
 * its subscriber set, its current run and its pending approvals, and decides every answer a
 * client gets: whether a send starts a run, where a subscriber's replay starts and whether it
 * has a gap, who may answer an approval, what a dropped socket leaves behind, how a run a crash
 * interrupted is closed, and how a run ends when the gateway shuts down.
 *
 *   idle ──client.send (admitted)──▶ running ──run.ended──▶ idle
 *                                      ├──run.ended (abort failed, runtime alive)──▶ locked ──run settles / lockedSessionTimeout──▶ idle
 *                                      └──gateway.shutdown──▶ stopping ──run.ended──▶ closed
 *                                                               └── shutdownAbortGrace: the run is ended at once
 *   idle | locked ──gateway.shutdown, session.deleted──▶ closed (a running session is not deleted)
 *   idle ──run.interrupted──▶ idle (a synthetic `complete` closes the run a crash left open)
 *   idle (no subscribers, no live run, sessionIdleTtl) ──▶ closed
 *   [cluster] idle ──remote.frames (a run opens) / remote.run-observed──▶ remote ──remote.frames (its complete)──▶ idle
 *             remote ──run.interrupted (this node took the lost run over)──▶ idle;  running | stopping ──run.lost──▶ closed
 *   idle, nothing ever sequenced, a subscriber comes, leaves or drops ──▶ closed (at once, watchers as output)
 *
 * Runs are child actors (`chatRun.machine.ts`); each run's messages come back as `run.message`
 * and get the next `seq` here, whichever run they belong to, so seq is monotonic per session
 * across runs. Subscribers are opaque ids: the gateway keeps the id → socket map, reads the
 * durable log, and does all I/O in response to the events this machine emits.
 *
 * A socket that closes is `client.dropped`, not `client.unsubscribe` (a drop is not a leave, as
 * in Colyseus): it leaves every session it was attached to, the ones it subscribed to and the
 * ones its `chat.send` attached it to, and a run it started goes on for its other viewers and
 * for whoever subscribes later. The gateway's part is one line: tell each joined session.
 */

const runActorId = (runId: string) => `run:${runId}`;
const runIdOfActor = (actorId: string) => (actorId.startsWith('run:') ? actorId.slice(4) : actorId);
/** The child a `xstate.done.actor.*` / `xstate.error.actor.*` event is about. */
const actorIdOf = (event: { type: string }) => (event as { actorId?: string }).actorId ?? '';

/** Enqueues `permission.opened` / `permission.closed` for every request that changed between two lists. */
function announcePermissionChanges(
  enqueue: { emit: (event: ChatSessionEmitted) => void },
  before: readonly PendingPermission[],
  after: readonly PendingPermission[],
): void {
  if (before === after) return;
  for (const p of after) if (!before.some((q) => q.requestId === p.requestId)) enqueue.emit({ type: 'permission.opened', requestId: p.requestId });
  for (const p of before) if (!after.some((q) => q.requestId === p.requestId)) enqueue.emit({ type: 'permission.closed', requestId: p.requestId });
}

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
    shutdownAbortGrace: ({ context }) => context.limits.shutdownAbortGraceMs,
    clientMessageIdWindow: ({ context }) => context.limits.clientMessageIdWindowMs,
  },
  guards: {
    // A remembered send keeps the session: a retry within the window must find it.
    canClose: ({ context }) => context.subscribers.length === 0 && context.liveRuns.length === 0 && context.recentSends.length === 0,
    // Nothing was ever sequenced here and nothing runs, so a live actor buys its watchers nothing
    // (the gateway keeps them); naming made-up ids must not hold live-session slots.
    isEmpty: ({ context }) => context.seq === 0 && context.liveRuns.length === 0,
    isRepeatedSend: ({ context, event }) => {
      assertEvent(event, 'client.send');
      const id = event.clientMessageId;
      return id !== undefined && context.recentSends.some((sent) => sent.clientMessageId === id);
    },
    sessionNotFound: ({ event }) => {
      assertEvent(event, 'client.send');
      return !event.sessionFound;
    },
    providerUnavailable: ({ event }) => {
      assertEvent(event, 'client.send');
      return !event.providerAvailable;
    },
    leaseHeld: ({ event }) => {
      assertEvent(event, 'client.send');
      return event.runLease === 'held';
    },
    backendUnavailable: ({ event }) => {
      assertEvent(event, 'client.send');
      return event.runLease === 'unavailable';
    },
    /** The frames leave a remote run open (one started, or the current one goes on without its `complete`). */
    leavesRemoteRunOpen: ({ context, event }) => {
      assertEvent(event, 'remote.frames');
      return remoteRunAfter(context, event.frames) !== null;
    },
    // Not a run that ended here already, nor a local run (a remote one seen in its frames gets its node).
    isOpenRemoteRun: ({ context, event }) => {
      assertEvent(event, 'remote.run-observed');
      return event.run.runId !== context.lastEndedRemoteRunId && !isLocalRun(context.currentRun);
    },
    isCurrentRunOf: ({ context, event }) => {
      assertEvent(event, ['peer.abort', 'peer.permission-response', 'run.lost', 'run.interrupted']);
      return context.currentRun?.runId === event.runId;
    },
    isPendingHere: ({ context, event }) => {
      assertEvent(event, 'peer.permission-response');
      return context.pendingPermissions.some((pending) => pending.requestId === event.requestId && pending.runId === event.runId);
    },
    // A run's messages are sequenced while its actor lives: after its runtime settled they are dropped.
    isLiveRun: ({ context, event }) => {
      assertEvent(event, ['run.message', 'run.messages']);
      return context.liveRuns.includes(event.runId) && !context.lostRuns.includes(event.runId);
    },
    isCurrentRun: ({ context, event }) => {
      assertEvent(event, 'run.ended');
      return context.currentRun?.runId === event.runId;
    },
    locksSession: ({ event }) => {
      assertEvent(event, 'run.ended');
      return event.locksSession;
    },
    isCurrentRunActor: ({ context, event }) =>
      context.currentRun !== null && runIdOfActor(actorIdOf(event)) === context.currentRun.runId,
    isLockingRun: ({ context, event }) => context.lockedBy !== null && runIdOfActor(actorIdOf(event)) === context.lockedBy,
    isNewSessionId: ({ context, event }) => {
      assertEvent(event, 'run.session-id');
      const id = event.providerSessionId;
      return typeof id === 'string' && id.length > 0 && id !== context.providerSessionId;
    },
    canResolvePermission: ({ context, event }) => {
      assertEvent(event, 'client.permission-response');
      return (
        context.subscribers.includes(event.subscriberId) &&
        context.pendingPermissions.some((pending) => pending.requestId === event.requestId)
      );
    },
  },
  actions: {
    addSubscriber: assign({
      subscribers: ({ context, event }) => {
        assertEvent(event, 'client.subscribe');
        return context.subscribers.includes(event.subscriberId) ? context.subscribers : [...context.subscribers, event.subscriberId];
      },
    }),
    removeSubscriber: assign({
      subscribers: ({ context, event }) => {
        assertEvent(event, ['client.unsubscribe', 'client.dropped']);
        return context.subscribers.filter((id) => id !== event.subscriberId);
      },
    }),
    emitSubscribed: emit(({ context, event }, params: { running: boolean }) => {
      assertEvent(event, 'client.subscribe');
      const replayAfter = replayStart(context, event.lastSeq, params.running, event.history === true);
      return {
        type: 'subscribed' as const,
        subscriberId: event.subscriberId,
        isProcessing: params.running,
        lastSeq: context.seq,
        runId: context.currentRun?.runId ?? null,
        replayAfter,
        gap: hasGap(context.seq, event.lastSeq, replayAfter, event.oldestSeq),
        pendingPermissions: context.pendingPermissions,
      };
    }),
    startRun: assign(({ context, event, spawn }) => {
      assertEvent(event, 'client.send');
      spawn('chatRun', {
        id: runActorId(event.runId),
        systemId: `chat-run:${event.runId}`,
        input: {
          runId: event.runId,
          sessionId: context.sessionId,
          provider: event.provider,
          content: event.content,
          options: event.options,
          projectPath: event.projectPath,
          userId: event.userId,
          providerSessionId: event.providerSessionId ?? context.providerSessionId,
          abortTimeoutMs: context.limits.abortTimeoutMs,
        },
      });
      // The sender is attached to the run it started (the baseline's auto-subscription).
      const subscribers =
        event.subscriberId === null || context.subscribers.includes(event.subscriberId)
          ? context.subscribers
          : [...context.subscribers, event.subscriberId];
      return {
        subscribers,
        currentRun: { runId: event.runId, provider: event.provider, startedAt: event.startedAt, firstSeq: context.seq + 1 },
        liveRuns: [...context.liveRuns, event.runId],
        providerSessionId: event.providerSessionId ?? context.providerSessionId,
      };
    }),
    /** Remembers the send by its `clientMessageId` for the window (the oldest goes beyond the bound). */
    rememberSend: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'client.send');
      const { clientMessageId } = event;
      if (clientMessageId === undefined) return;
      const sent: RecentSend = { clientMessageId, runId: event.runId, firstSeq: context.seq + 1 };
      enqueue.assign({ recentSends: [...context.recentSends, sent].slice(-MAX_RECENT_CLIENT_MESSAGE_IDS) });
      enqueue(raise({ type: 'send.expired', clientMessageId }, { delay: 'clientMessageIdWindow' }));
    }),
    forgetSend: assign({
      recentSends: ({ context, event }) => {
        assertEvent(event, 'send.expired');
        const index = context.recentSends.findIndex((sent) => sent.clientMessageId === event.clientMessageId);
        return index === -1 ? context.recentSends : context.recentSends.filter((_, i) => i !== index);
      },
    }),
    /** A repeat of a remembered send: the sender watches the run the first one started. */
    acceptRepeatedSend: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'client.send');
      const first = context.recentSends.find((sent) => sent.clientMessageId === event.clientMessageId);
      const { subscriberId } = event;
      if (!first || subscriberId === null) return;
      if (!context.subscribers.includes(subscriberId)) enqueue.assign({ subscribers: [...context.subscribers, subscriberId] });
      const replayAfter = first.firstSeq - 1 < context.seq ? first.firstSeq - 1 : null;
      enqueue.emit({ type: 'send.repeated', subscriberId, runId: first.runId, lastSeq: context.seq, replayAfter });
    }),
    emitRunStarted: emit(({ event }) => {
      assertEvent(event, 'client.send');
      return { type: 'run.started' as const, runId: event.runId, provider: event.provider, startedAt: event.startedAt };
    }),
    forwardAbort: sendTo(({ context }) => runActorId(context.currentRun?.runId ?? ''), { type: 'client.abort' }),
    forwardShutdown: sendTo(({ context }) => runActorId(context.currentRun?.runId ?? ''), { type: 'gateway.shutdown' } as never),
    sequence: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['run.message', 'run.messages']);
      const messages = event.type === 'run.message' ? [event.message] : event.messages;
      let pending = context.pendingPermissions;
      for (const message of messages) pending = trackPermissions(pending, event.runId, message);
      emitSequenced(enqueue, context, messages, event.runId);
      enqueue.assign({ seq: context.seq + messages.length, pendingPermissions: pending });
      announcePermissionChanges(enqueue, context.pendingPermissions, pending);
    }),
    endCurrentRun: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'run.ended');
      // Approvals of a finished run can no longer be answered.
      const pending = context.pendingPermissions.filter((p) => p.runId !== event.runId);
      enqueue.assign({ currentRun: null, lockedBy: event.locksSession ? event.runId : null, pendingPermissions: pending });
      announcePermissionChanges(enqueue, context.pendingPermissions, pending);
    }),
    /** The current run's actor failed: its session completes it, so it is never stuck running. */
    completeFailedRun: enqueueActions(({ context, enqueue }) => {
      const run = context.currentRun;
      if (!run) return;
      const pending = context.pendingPermissions.filter((p) => p.runId !== run.runId);
      enqueue.assign({ seq: context.seq + 1, currentRun: null, pendingPermissions: pending });
      emitSequenced(enqueue, context, [{ kind: 'complete', provider: run.provider, exitCode: 1, aborted: false }], run.runId);
      announcePermissionChanges(enqueue, context.pendingPermissions, pending);
    }),
    /** A run a crash left open ends with a synthetic `complete`, on the next seq, as any other. */
    completeInterruptedRun: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'run.interrupted');
      const pending = context.pendingPermissions.filter((p) => p.runId !== event.runId);
      // A remote run this node took over ends here: the session no longer shows it running.
      const endsCurrent = context.currentRun?.runId === event.runId;
      enqueue.assign({
        seq: context.seq + 1,
        pendingPermissions: pending,
        ...(endsCurrent ? { currentRun: null, lastEndedRemoteRunId: event.runId } : {}),
      });
      const reason = event.reason ?? 'gateway_restart';
      const message = { kind: 'complete', provider: event.provider, exitCode: 1, aborted: false, reason };
      emitSequenced(enqueue, context, [message], event.runId);
      announcePermissionChanges(enqueue, context.pendingPermissions, pending);
    }),
    unlock: assign({ lockedBy: null }),
    forgetRun: assign(({ context, event }) => {
      const runId = runIdOfActor(actorIdOf(event));
      return { liveRuns: context.liveRuns.filter((id) => id !== runId), lostRuns: context.lostRuns.filter((id) => id !== runId) };
    }),
    stopRunActor: stopChild(({ event }) => actorIdOf(event)),
    assignSessionId: assign({
      providerSessionId: ({ event }) => {
        assertEvent(event, 'run.session-id');
        return event.providerSessionId;
      },
    }),
    emitSessionId: emit(({ event }) => {
      assertEvent(event, 'run.session-id');
      return { type: 'session-id.assigned' as const, providerSessionId: event.providerSessionId };
    }),
    resolvePermission: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['client.permission-response', 'peer.permission-response']);
      const pending = context.pendingPermissions.filter((p) => p.requestId !== event.requestId);
      enqueue.assign({ pendingPermissions: pending });
      enqueue.emit({ type: 'permission.resolve', requestId: event.requestId, decision: event.decision });
      announcePermissionChanges(enqueue, context.pendingPermissions, pending);
    }),
    /** [cluster] Frames another node sequenced: relayed to this node's subscribers, the remote run tracked. */
    relayRemoteFrames: enqueueActions(({ context, event, enqueue }, params: { track: boolean }) => {
      assertEvent(event, 'remote.frames');
      let { seq, pendingPermissions: pending } = context;
      let run = context.currentRun;
      let lastEnded = context.lastEndedRemoteRunId;
      const relayed: SequencedFrame[] = [];
      for (const frame of event.frames) {
        // Already counted here (read twice, or this node's own write).
        if (frame.seq <= seq) continue;
        seq = frame.seq;
        relayed.push(frame);
        pending = trackPermissions(pending, frame.runId, frame);
        if (frame.kind === 'complete') {
          pending = pending.filter((p) => p.runId !== frame.runId);
          if (run?.runId === frame.runId) run = null;
          lastEnded = frame.runId;
        } else if (run === null && frame.runId !== lastEnded) {
          run = { runId: frame.runId, provider: String(frame.provider ?? ''), startedAt: 0, firstSeq: frame.seq, nodeId: null };
        }
      }
      if (relayed.length > 0) enqueue.emit({ type: 'frames', frames: relayed, subscribers: context.subscribers, durable: true });
      // Only idle and remote track another node's run: running, locked and stopping are about
      // this node's run (remote frames then are another node's, relayed so nobody misses them).
      if (!params.track) {
        enqueue.assign({ seq });
        return;
      }
      enqueue.assign({ seq, pendingPermissions: pending, lastEndedRemoteRunId: lastEnded, currentRun: run });
      announcePermissionChanges(enqueue, context.pendingPermissions, pending);
    }),
    observeRemoteRun: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'remote.run-observed');
      const { run } = event;
      const pending = [...context.pendingPermissions.filter((p) => p.runId !== run.runId), ...run.pendingPermissions];
      enqueue.assign({
        currentRun: { runId: run.runId, provider: run.provider, startedAt: run.startedAt, firstSeq: run.firstSeq, nodeId: run.nodeId },
        pendingPermissions: pending,
      });
      announcePermissionChanges(enqueue, context.pendingPermissions, pending);
    }),
    askNodeToAbort: emit(({ context }) => ({ type: 'remote.abort' as const, runId: context.currentRun?.runId ?? '' })),
    /** An approval of a remote run: its node resolves it; here it is no longer pending. */
    forwardPermission: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'client.permission-response');
      const answered = context.pendingPermissions.find((p) => p.requestId === event.requestId);
      const pending = context.pendingPermissions.filter((p) => p.requestId !== event.requestId);
      enqueue.assign({ pendingPermissions: pending });
      enqueue.emit({
        type: 'remote.permission-response',
        runId: answered?.runId ?? context.currentRun?.runId ?? '',
        requestId: event.requestId,
        decision: event.decision,
      });
      announcePermissionChanges(enqueue, context.pendingPermissions, pending);
    }),
    /**
     * [cluster] The run's lease is gone: it is told to stop and nothing more of it is sequenced
     * here; the session closes (its watchers handed back), so the next actor starts from the log.
     * The node that took the run over sequences its `complete`.
     */
    dropLostRun: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'run.lost');
      const pending = context.pendingPermissions.filter((p) => p.runId !== event.runId);
      enqueue(sendTo(runActorId(event.runId), { type: 'gateway.shutdown' } as never));
      enqueue.assign({ currentRun: null, pendingPermissions: pending, lostRuns: [...context.lostRuns, event.runId] });
      announcePermissionChanges(enqueue, context.pendingPermissions, pending);
    }),
    reply: emit(({ context, event }, params: { code: ProtocolErrorCode; scope?: 'session' | 'none' }) => {
      const subscriberId = (event as { subscriberId?: string | null }).subscriberId ?? '';
      // An approval is answered by request id, not by session: its error names no session.
      const sessionId = params.scope === 'none' ? null : context.sessionId;
      return { type: 'reply' as const, subscriberId, frame: protocolError(params.code, sessionId, replyDetail(params.code, context.sessionId, event)) };
    }),
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
    recentSends: [],
    lastEndedRemoteRunId: null,
    lostRuns: [],
    limits: input.limits,
  }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        'client.subscribe': [
          { guard: 'isEmpty', target: 'closed', actions: ['addSubscriber', { type: 'emitSubscribed', params: { running: false } }] },
          { actions: ['addSubscriber', { type: 'emitSubscribed', params: { running: false } }] },
        ],
        'client.unsubscribe': [{ guard: 'isEmpty', target: 'closed', actions: 'removeSubscriber' }, { actions: 'removeSubscriber' }],
        'client.dropped': [{ guard: 'isEmpty', target: 'closed', actions: 'removeSubscriber' }, { actions: 'removeSubscriber' }],
        'client.send': [
          { guard: 'isRepeatedSend', actions: 'acceptRepeatedSend' },
          ...refuseUnknownSend('idle'),
          // [cluster] The lease decides last: a run elsewhere, or no backend to ask.
          { guard: 'leaseHeld', actions: { type: 'reply', params: { code: 'RUN_IN_PROGRESS' } } },
          { guard: 'backendUnavailable', actions: { type: 'reply', params: { code: 'BACKEND_UNAVAILABLE' } } },
          { target: 'running', actions: ['rememberSend', 'startRun', 'emitRunStarted'] },
        ],
        // [cluster] Another node's run, seen in its frames or in the backend's record.
        'remote.frames': [
          { guard: 'leavesRemoteRunOpen', target: 'remote', actions: { type: 'relayRemoteFrames', params: { track: true } } },
          { actions: { type: 'relayRemoteFrames', params: { track: true } } },
        ],
        'remote.run-observed': { guard: 'isOpenRemoteRun', target: 'remote', actions: 'observeRemoteRun' },
        'client.abort': [
          { guard: 'isEmpty', target: 'closed', actions: { type: 'reply', params: { code: 'NO_ACTIVE_RUN' } } },
          { actions: { type: 'reply', params: { code: 'NO_ACTIVE_RUN' } } },
        ],
        // Recovery at start-up: nobody watches yet, so the closed run releases its actor at once.
        'run.interrupted': [
          { guard: 'canClose', target: 'closed', actions: 'completeInterruptedRun' },
          { actions: 'completeInterruptedRun' },
        ],
        'gateway.shutdown': { target: 'closed' },
        'session.deleted': { target: 'closed' },
      },
      after: {
        // Re-entering restarts the timer, so a watched session is re-checked once per TTL.
        sessionIdleTtl: [{ guard: 'canClose', target: 'closed' }, { target: 'idle', reenter: true }],
      },
    },
    running: {
      on: {
        'client.subscribe': { actions: ['addSubscriber', { type: 'emitSubscribed', params: { running: true } }] },
        'client.send': [{ guard: 'isRepeatedSend', actions: 'acceptRepeatedSend' }, ...refuseUnknownSend('busy'), { actions: { type: 'reply', params: { code: 'RUN_IN_PROGRESS' } } }],
        'client.abort': { actions: 'forwardAbort' },
        'peer.abort': { guard: 'isCurrentRunOf', actions: 'forwardAbort' },
        'peer.permission-response': { guard: 'isPendingHere', actions: 'resolvePermission' },
        // Its view of the session may hold events the log refused: the actor closes, a fresh one reads the log.
        'run.lost': { guard: 'isCurrentRunOf', target: 'closed', actions: 'dropLostRun' },
        'gateway.shutdown': { target: 'stopping', actions: 'forwardAbort' },
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
        'client.send': [{ guard: 'isRepeatedSend', actions: 'acceptRepeatedSend' }, ...refuseUnknownSend('busy'), { actions: { type: 'reply', params: { code: 'RUN_IN_PROGRESS' } } }],
        'client.abort': { actions: { type: 'reply', params: { code: 'NO_ACTIVE_RUN' } } },
        'gateway.shutdown': { target: 'closed' },
        'session.deleted': { target: 'closed' },
        'xstate.done.actor.*': [
          { guard: 'isLockingRun', target: 'idle', actions: ['forgetRun', 'stopRunActor', 'unlock'] },
          { actions: ['forgetRun', 'stopRunActor'] },
        ],
      },
      after: {
        lockedSessionTimeout: { target: 'idle', actions: 'unlock' },
      },
    },
    /**
     * [cluster] A run of this session executes on another node: its frames come from the shared
     * log; an abort or an approval answered here goes to that node; a send is refused as busy.
     */
    remote: {
      on: {
        'client.subscribe': { actions: ['addSubscriber', { type: 'emitSubscribed', params: { running: true } }] },
        'client.send': [{ guard: 'isRepeatedSend', actions: 'acceptRepeatedSend' }, ...refuseUnknownSend('busy'), { actions: { type: 'reply', params: { code: 'RUN_IN_PROGRESS' } } }],
        'client.abort': { actions: 'askNodeToAbort' },
        'client.permission-response': [
          { guard: 'canResolvePermission', actions: 'forwardPermission' },
          { actions: { type: 'reply', params: { code: 'UNKNOWN_PERMISSION_REQUEST', scope: 'none' } } },
        ],
        'remote.frames': [
          { guard: 'leavesRemoteRunOpen', actions: { type: 'relayRemoteFrames', params: { track: true } } },
          { target: 'idle', actions: { type: 'relayRemoteFrames', params: { track: true } } },
        ],
        'remote.run-observed': { guard: 'isOpenRemoteRun', actions: 'observeRemoteRun' },
        // This node took the run over from its lost node: it sequences the run's end.
        'run.interrupted': [{ guard: 'isCurrentRunOf', target: 'idle', actions: 'completeInterruptedRun' }, { actions: 'completeInterruptedRun' }],
        'gateway.shutdown': { target: 'closed' },
      },
      after: {
        // Nobody here watches it: the actor need not follow another node's run.
        sessionIdleTtl: [{ guard: 'canClose', target: 'closed' }, { target: 'remote', reenter: true }],
      },
    },
    /** The gateway is closing: the run was asked to abort; after the grace it is ended regardless. */
    stopping: {
      on: {
        'client.subscribe': { actions: ['addSubscriber', { type: 'emitSubscribed', params: { running: true } }] },
        'client.send': [
          { guard: 'isRepeatedSend', actions: 'acceptRepeatedSend' },
          { actions: { type: 'reply', params: { code: 'INTERNAL_ERROR' } } },
        ],
        // The run is being aborted already.
        'client.abort': { actions: [] },
        'run.lost': { guard: 'isCurrentRunOf', target: 'closed', actions: 'dropLostRun' },
        'run.ended': { guard: 'isCurrentRun', target: 'closed', actions: 'endCurrentRun' },
        'xstate.error.actor.*': [
          { guard: 'isCurrentRunActor', target: 'closed', actions: ['completeFailedRun', 'forgetRun', 'stopRunActor'] },
          { actions: ['forgetRun', 'stopRunActor'] },
        ],
      },
      after: {
        shutdownAbortGrace: { actions: 'forwardShutdown' },
      },
    },
    closed: { type: 'final' },
  },
  // In every state: subscribers leave, runs' messages are sequenced, approvals are answered.
  on: {
    'client.unsubscribe': { actions: 'removeSubscriber' },
    'client.dropped': { actions: 'removeSubscriber' },
    'run.message': { guard: 'isLiveRun', actions: 'sequence' },
    'run.messages': { guard: 'isLiveRun', actions: 'sequence' },
    // [cluster] Relayed whatever the state (a run here keeps its place; see relayRemoteFrames).
    'remote.frames': { actions: { type: 'relayRemoteFrames', params: { track: false } } },
    'send.expired': { actions: 'forgetSend' },
    'run.session-id': { guard: 'isNewSessionId', actions: ['assignSessionId', 'emitSessionId'] },
    'client.permission-response': [
      { guard: 'canResolvePermission', actions: 'resolvePermission' },
      { actions: { type: 'reply', params: { code: 'UNKNOWN_PERMISSION_REQUEST', scope: 'none' } } },
    ],
    'xstate.done.actor.*': { actions: ['forgetRun', 'stopRunActor'] },
    // A run actor that failed (a bug, not a runtime failure: those are values) is released
    // rather than taking the session down with it.
    'xstate.error.actor.*': { actions: ['forgetRun', 'stopRunActor'] },
  },
  output: ({ context }) => ({ watchers: context.subscribers }),
});

/**
 * The refusals every state gives a send before its own answer: no such session, no runtime for
 * it. Idle, a session with nothing in it has nothing to keep: it closes with the answer.
 */
function refuseUnknownSend(state: 'idle' | 'busy') {
  const refusals = [
    { guard: 'sessionNotFound', actions: { type: 'reply', params: { code: 'SESSION_NOT_FOUND' } } },
    { guard: 'providerUnavailable', actions: { type: 'reply', params: { code: 'UNSUPPORTED_PROVIDER' } } },
  ] as const;
  if (state === 'busy') return refusals;
  return [
    { guard: and(['sessionNotFound', 'isEmpty']), target: 'closed', actions: refusals[0].actions },
    refusals[0],
    { guard: and(['providerUnavailable', 'isEmpty']), target: 'closed', actions: refusals[1].actions },
    refusals[1],
  ] as const;
}

/** The text of an answer, where it names more than its code says. */
function replyDetail(code: ProtocolErrorCode, sessionId: string, event: ChatSessionEvent): string | undefined {
  if (code === 'SESSION_NOT_FOUND') return `Session "${sessionId}" was not found. Create it via POST /api/providers/sessions first.`;
  if (code === 'UNSUPPORTED_PROVIDER' && event.type === 'client.send') return `Provider "${event.provider}" is not available.`;
  if (code === 'INTERNAL_ERROR') return 'The gateway is shutting down.';
  return undefined;
}

/**
 * Sequences `messages` from `context.seq + 1` and emits them as `frames`, one event per stretch
 * rather than per frame (a runtime's chunk is one emit, not a hundred). A stretch ends at a frame
 * that needs more than sending, whose further events follow it in order.
 */
function emitSequenced(
  enqueue: { emit: (event: ChatSessionEmitted) => void },
  context: ChatSessionContext,
  messages: readonly ChatMessage[],
  runId: string,
): void {
  const { subscribers } = context;
  let stretch: SequencedFrame[] = [];
  let seq = context.seq;
  for (const message of messages) {
    const frame = sequenceMessage(message, context.sessionId, ++seq, runId);
    stretch.push(frame);
    // Nobody sees it: the host may reach its user some other way.
    const unseen = subscribers.length === 0 && (frame.kind === 'permission_request' || frame.kind === 'complete');
    if (!unseen && frame.kind !== 'complete') continue;
    enqueue.emit({ type: 'frames', frames: stretch, subscribers });
    stretch = [];
    if (unseen) enqueue.emit({ type: 'attention', kind: frame.kind === 'complete' ? 'complete' : 'permission_request', runId, frame });
    // The run machine lets exactly one `complete` per run through: this is the run's end.
    if (frame.kind === 'complete') {
      enqueue.emit({ type: 'run.ended', runId, exitCode: frame.exitCode as number, aborted: frame.aborted === true });
    }
  }
  if (stretch.length > 0) enqueue.emit({ type: 'frames', frames: stretch, subscribers });
}

/** What a subscriber is told about a live session (its `chat_subscribed`, or the notice after a gap). */
export function subscriptionView(snapshot: { value: unknown; context: ChatSessionContext }): SubscriptionView {
  return {
    isProcessing: snapshot.value === 'running' || snapshot.value === 'stopping' || snapshot.value === 'remote',
    runId: snapshot.context.currentRun?.runId ?? null,
    pendingPermissions: snapshot.context.pendingPermissions,
  };
}

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
  if (running && context.currentRun) {
    const after = Math.min(context.currentRun.firstSeq - 1, context.seq);
    return after < context.seq ? after : null;
  }
  return null;
}

/**
 * A subscriber has a gap when events it has not seen are gone from the log (pruned), or when it
 * claims to be ahead of the log (a wiped store): either way it must reload, never silently.
 */
function hasGap(latestSeq: number, clientLastSeq: number, replayAfter: number | null, oldestSeq: number): boolean {
  if (clientLastSeq > latestSeq) return true;
  return replayAfter !== null && oldestSeq > replayAfter + 1;
}

/** Whether the current run is this node's (not a remote run another node executes). */
function isLocalRun(run: ChatSessionContext['currentRun']): boolean {
  return run !== null && run.nodeId === undefined;
}

/** The remote run still open after relaying these frames (null: none, or it ended). */
function remoteRunAfter(context: ChatSessionContext, frames: readonly SequencedFrame[]): string | null {
  let open = isLocalRun(context.currentRun) ? null : (context.currentRun?.runId ?? null);
  let lastEnded = context.lastEndedRemoteRunId;
  let seq = context.seq;
  for (const frame of frames) {
    if (frame.seq <= seq) continue;
    seq = frame.seq;
    if (frame.kind === 'complete') {
      if (open === frame.runId) open = null;
      lastEnded = frame.runId;
    } else if (open === null && frame.runId !== lastEnded) {
      open = frame.runId;
    }
  }
  return open;
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
