import type { ActorRefFrom } from 'xstate';

import {
  chatSessionMachine,
  subscriptionView,
  type SubscriptionView,
  type ChatSessionEmitted,
  type ChatSessionEvent,
  type ChatSessionLimits,
} from '../../machines/chatSession.machine.js';
import type { PendingPermission } from '../../machines/chatMessage.js';
import type { ChatEventLog } from '../../persistence/types.js';
import type { ActorHost } from '../actorHost.js';
import type { Logger } from '../logger.js';

/**
 * The live chat session actors of a gateway, by session id. A session has an actor while it is
 * watched, running, or was named recently; an empty one (nothing ever sequenced) closes after
 * each frame that names it and hands its subscribers back as output: they are kept here
 * (`watchers`) and given to the next actor of that id, so a run started there reaches them.
 */

export type ChatSessionActor = ActorRefFrom<typeof chatSessionMachine>;

/** A run in progress, as `chatRunRegistry.listRunningRuns()` reports it. */
export interface RunningRun<TProvider extends string = string> {
  sessionId: string;
  provider: TProvider;
  /** Epoch ms. */
  startedAt: number;
  lastSeq: number;
}

export interface SessionActors {
  get(sessionId: string): ChatSessionActor | undefined;
  /**
   * The live actor, else a new one; null while closing or at `maxLiveSessions`. A new actor starts
   * at the log's latest seq, or at `startSeq` when given: [cluster] frames the log's mirror holds
   * already, which it is about to be given, are then still news to it.
   */
  acquire(sessionId: string, startSeq?: number): ChatSessionActor | null;
  /** Whether subscribers watch the session while it has no actor (handed back by an empty one). */
  watched(sessionId: string): boolean;
  /** Why `acquire` returned null, as the answer a client gets. */
  refusal(): string;
  /**
   * Sends an event a subscriber's departure makes to the session: to its actor when live, else
   * the subscriber simply stops watching.
   */
  depart(sessionId: string, event: Extract<ChatSessionEvent, { type: 'client.unsubscribe' | 'client.dropped' }>): void;
  entries(): IterableIterator<[string, ChatSessionActor]>;
  /** The runs in progress in live sessions. */
  runningRuns(): RunningRun[];
  /** What a subscriber is told about the session (a session with no live actor runs nothing). */
  view(sessionId: string): SubscriptionView;
  /** Whether the session has a run in progress (`chat_subscribed.isProcessing`). */
  isProcessing(sessionId: string): boolean;
  /** Each live session with its state, for inspection. */
  summaries(): Array<{ sessionId: string; state: string; seq: number; subscribers: number }>;
  /**
   * Closes a deleted session's actor (if live) and forgets its watchers. False while a run is
   * running there: the session machine does not close then.
   */
  forget(sessionId: string): boolean;
  /** Tells every live session the gateway is closing; resolves once every one has closed. */
  shutdown(): Promise<void>;
}

export interface SessionActorsOptions {
  host: ActorHost;
  log: ChatEventLog;
  logger: Logger;
  maxLiveSessions: number;
  limits: ChatSessionLimits;
  /** Every event a session emits, with its session id. */
  onEmitted(sessionId: string, event: ChatSessionEmitted): void;
  /** A session's actor closed; `pending` are the approvals it still listed (a late run's, say). */
  onClosed(sessionId: string, pending: readonly PendingPermission[]): void;
  /** Whether a subscriber's socket is still open (a watcher whose socket closed is not kept). */
  isConnected(subscriberId: string): boolean;
}

export function createSessionActors(options: SessionActorsOptions): SessionActors {
  const { host, log, logger, limits } = options;
  const live = new Map<string, ChatSessionActor>();
  /** Bounded by sockets × maxSubscriptionsPerSocket. */
  const watchers = new Map<string, Set<string>>();
  const closedWaiters = new Set<() => void>();
  let closing = false;

  /**
   * Nothing here has the session any more (no actor, no watcher). The durable log keeps its
   * events; only its in-memory part is let go (the replay tail; [cluster] the mirror, which
   * watchers without an actor still need for a run another node starts).
   */
  const forgotten = (sessionId: string) => {
    if (!live.has(sessionId)) log.release?.(sessionId);
  };

  const forget = (sessionId: string, actor: ChatSessionActor) => {
    if (live.get(sessionId) === actor) live.delete(sessionId);
    if (live.size === 0) for (const resolve of closedWaiters) resolve();
  };

  const spawn = (sessionId: string, startSeq?: number): ChatSessionActor => {
    const handedBack = watchers.get(sessionId);
    watchers.delete(sessionId);
    const actor = host.spawn('chatSession', `chat:${sessionId}`, {
      sessionId,
      latestSeq: startSeq ?? log.latestSeq(sessionId),
      limits,
      watchers: handedBack ? [...handedBack] : [],
    }) as ChatSessionActor;
    live.set(sessionId, actor);
    actor.on('*', (event) => options.onEmitted(sessionId, event as ChatSessionEmitted));
    actor.subscribe({
      complete: () => {
        const output = actor.getSnapshot().output;
        // Only sockets still open keep watching (one may have closed inside this transition).
        const still = (output?.watchers ?? []).filter((id) => options.isConnected(id));
        if (still.length > 0 && !closing) watchers.set(sessionId, new Set(still));
        options.onClosed(sessionId, actor.getSnapshot().context.pendingPermissions);
        forget(sessionId, actor);
        if (!watchers.has(sessionId)) forgotten(sessionId);
      },
      error: (error: unknown) => {
        logger.error('Chat session actor failed', { sessionId, error: String(error) });
        forget(sessionId, actor);
      },
    });
    return actor;
  };

  const actors: SessionActors = {
    get: (sessionId) => live.get(sessionId),
    acquire(sessionId, startSeq) {
      const existing = live.get(sessionId);
      if (existing) return existing;
      if (closing || live.size >= options.maxLiveSessions) return null;
      return spawn(sessionId, startSeq);
    },
    watched: (sessionId) => watchers.has(sessionId),
    refusal: () => (closing ? 'The gateway is shutting down.' : 'Too many live sessions on this gateway.'),
    depart(sessionId, event) {
      const actor = live.get(sessionId);
      if (actor) return actor.send(event);
      const watching = watchers.get(sessionId);
      if (watching?.delete(event.subscriberId) && watching.size === 0) {
        watchers.delete(sessionId);
        forgotten(sessionId);
      }
    },
    entries: () => live.entries(),
    runningRuns() {
      const runs: RunningRun[] = [];
      for (const [sessionId, actor] of live) {
        const snapshot = actor.getSnapshot();
        const run = snapshot.context.currentRun;
        if (run && subscriptionView(snapshot).isProcessing) {
          runs.push({ sessionId, provider: run.provider, startedAt: run.startedAt, lastSeq: snapshot.context.seq });
        }
      }
      return runs;
    },
    view(sessionId) {
      const actor = live.get(sessionId);
      return actor ? subscriptionView(actor.getSnapshot()) : { isProcessing: false, runId: null, pendingPermissions: [] };
    },
    isProcessing(sessionId) {
      return actors.view(sessionId).isProcessing;
    },
    summaries() {
      return [...live].map(([sessionId, actor]) => {
        const { value, context } = actor.getSnapshot();
        return { sessionId, state: String(value), seq: context.seq, subscribers: context.subscribers.length };
      });
    },
    forget(sessionId) {
      const actor = live.get(sessionId);
      if (actor) {
        actor.send({ type: 'session.deleted' });
        if (actor.getSnapshot().status === 'active') return false;
      }
      // Its subscribers are not handed on (the closing actor just handed them back): the session is gone.
      if (watchers.delete(sessionId)) forgotten(sessionId);
      return true;
    },
    shutdown() {
      closing = true;
      watchers.clear();
      if (live.size === 0) return Promise.resolve();
      const closed = new Promise<void>((resolve) => closedWaiters.add(resolve));
      for (const actor of [...live.values()]) actor.send({ type: 'gateway.shutdown' });
      return closed;
    },
  };
  return actors;
}
