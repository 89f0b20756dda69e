import type { SequencedFrame } from '../../machines/chatMessage.js';
import type { ChatSessionEmitted } from '../../machines/chatSession.machine.js';
import type { ClusterBackend, NodeMessage, RunRecordShape } from '../../persistence/cluster/types.js';
import type { LoggedEvent } from '../../persistence/types.js';
import type { Logger } from '../logger.js';
import type { ChatSessionActor, SessionActors } from './sessionActors.js';

/**
 * [cluster] The chat path's I/O with the other nodes of a cluster (docs/CLUSTER.md): the facts
 * a session machine needs from the shared backend before a subscribe or a send (the session's
 * mirrored log, its unfinished run elsewhere, the run lease), the frames other nodes sequence
 * (in as `remote.frames`), requests for another node's run (out over the node bus, in as
 * `peer.*`), lost leases (`run.lost`), and the sweep that takes over runs whose node is gone
 * (`run.interrupted` with `node_lost`). What any of it means for a client is the machine's call.
 */

export type RunLease = 'acquired' | 'held' | 'unavailable';

/** What a subscribe asks for, which decides how much of the log this node mirrors. */
export interface SubscribeFrom {
  lastSeq: number;
  history: boolean;
}

export interface ClusterLink {
  readonly nodeId: string;
  /**
   * Before a subscribe: the session's log is mirrored here from what the client may be replayed on, and the
   * actor (acquired by `withActor` once that is done) learns of an unfinished run elsewhere.
   * False when the backend cannot be reached (nothing was sent to a session). The caller acquires
   * the actor itself after awaiting this (an empty one may have closed in between).
   */
  prepare(sessionId: string, from: SubscribeFrom, withActor: () => ChatSessionActor | null): Promise<boolean>;
  /** Before a send: the session's log is followed here (no history). False when the backend cannot be reached. */
  mirror(sessionId: string): Promise<boolean>;
  /**
   * Before a send (after `mirror`): the session's run lease for `runId`. Once acquired, the previous writer's last
   * events have reached the actor (the lease is taken only after they were written).
   */
  leaseForSend(sessionId: string, actor: ChatSessionActor, run: { runId: string; provider: string; startedAt: number }): Promise<RunLease>;
  /** After the send: a lease the session did not use for a run (it refused the send) is given back. */
  settleSend(sessionId: string, actor: ChatSessionActor, runId: string, lease: RunLease): void;
  /** Each event a session emits (the cluster's part of its effects). */
  handle(sessionId: string, event: ChatSessionEmitted): void;
  /** Stops the sweep (the gateway is closing). */
  stop(): void;
}

export interface ClusterLinkOptions {
  cluster: ClusterBackend;
  actors: () => SessionActors;
  logger: Logger;
  /** A session's subscribers here must reload (this node's view of it was refused by the backend). */
  announceGap(sessionId: string): void;
}

/** How often (as a share of the lease time) each node looks for runs whose node is gone. */
const SWEEPS_PER_LEASE = 2;

/** A prepare that mirrors no history: only the session's bounds and its new events. */
const NO_HISTORY = Number.MAX_SAFE_INTEGER;

export function createClusterLink(options: ClusterLinkOptions): ClusterLink {
  const { cluster, logger } = options;
  const { eventLog: log, runs, bus, nodeId } = cluster;
  const actors = options.actors;

  const framesOf = (events: readonly LoggedEvent[]): SequencedFrame[] => {
    const frames: SequencedFrame[] = [];
    for (const event of events) {
      try {
        frames.push(JSON.parse(event.json) as SequencedFrame);
      } catch {
        // Written by a gateway, so never expected; one bad entry must not stop the others.
        logger.error('A shared log entry is not JSON', { sessionId: event.sessionId, seq: event.seq });
      }
    }
    return frames;
  };

  const observed = (record: RunRecordShape) => ({
    type: 'remote.run-observed' as const,
    run: {
      runId: record.runId,
      nodeId: record.nodeId,
      provider: record.provider,
      startedAt: record.startedAt,
      firstSeq: record.firstSeq,
      pendingPermissions: record.pendingPermissions,
    },
  });

  /** The current view of a running session's approvals goes into its run record (fenced). */
  const pendingWrites = new Set<string>();
  const writePending = (sessionId: string) => {
    if (pendingWrites.has(sessionId)) return;
    pendingWrites.add(sessionId);
    // After the transition that changed them, once per turn.
    setImmediate(() => {
      pendingWrites.delete(sessionId);
      if (runs.tokenOf(sessionId) === null) return;
      const { pendingPermissions } = actors().view(sessionId);
      runs.setPending(sessionId, pendingPermissions).catch((error: unknown) => {
        logger.warn('Could not record a run\'s approvals in the backend', { sessionId, error: String(error) });
      });
    });
  };

  /** A request for another node's run goes to the node its run record names now (a takeover moves it). */
  const toRunNode = async (sessionId: string, runId: string, message: NodeMessage) => {
    try {
      const record = await runs.get(sessionId);
      if (!record || record.runId !== runId) return;
      await bus.send(record.nodeId, message);
    } catch (error) {
      logger.warn('Could not reach the node of a run', { sessionId, runId, type: message.type, error: String(error) });
    }
  };

  const onNodeMessage = (message: NodeMessage) => {
    const actor = actors().get(message.sessionId);
    if (!actor) return;
    if (message.type === 'abort') actor.send({ type: 'peer.abort', runId: message.runId });
    else actor.send({ type: 'peer.permission-response', runId: message.runId, requestId: message.requestId, decision: message.decision });
  };

  const loseRun = (sessionId: string) => {
    const actor = actors().get(sessionId);
    const runId = actor?.getSnapshot().context.currentRun?.runId;
    if (actor && runId) actor.send({ type: 'run.lost', runId });
  };

  log.setHooks({
    onRemoteEvents(sessionId, events) {
      if (events.length === 0) return;
      // Watchers without an actor (an empty session hands them back) get one for these frames,
      // started just before them: the mirror holds them already.
      const actor = actors().get(sessionId) ?? (actors().watched(sessionId) ? actors().acquire(sessionId, events[0].seq - 1) : null);
      if (actor) actor.send({ type: 'remote.frames', frames: framesOf(events) });
    },
    onAppendRefused(sessionId, reason) {
      logger.error('The backend refused a session\'s events: its run stops on this node', { sessionId, reason });
      loseRun(sessionId);
      // What this node's sockets were sent of it may differ from the log: they reload.
      options.announceGap(sessionId);
    },
    fenceOf: (sessionId) => runs.tokenOf(sessionId),
  });
  runs.setHooks({
    onLeaseLost(sessionId, runId) {
      logger.error('A run lease was lost: the run stops on this node', { sessionId, runId });
      const actor = actors().get(sessionId);
      if (actor) actor.send({ type: 'run.lost', runId });
    },
  });
  bus.onMessage(onNodeMessage);

  /**
   * The seq after which a subscribe may be replayed: what the client has, or every retained event
   * for `history`; a fresh client of a running session is replayed that run (from its first seq),
   * of an idle one nothing. Mirroring more would load a whole session for each fresh tab.
   */
  const mirrorFrom = async (sessionId: string, from: SubscribeFrom): Promise<number> => {
    if (from.lastSeq > 0) return from.lastSeq;
    if (from.history) return 0;
    const record = await runs.get(sessionId);
    return record ? Math.max(0, record.firstSeq - 1) : NO_HISTORY;
  };

  // ---- takeover of runs whose node is gone ----
  const takeOver = async (record: RunRecordShape) => {
    const taken = await runs.takeOver(record.sessionId, record.runId);
    if (!taken) return;
    // A takeover that cannot finish stops renewing its lease: it expires and a sweep tries again.
    const giveUp = (why: string, error?: unknown) => {
      runs.ended(record.sessionId);
      logger.warn(`A takeover failed (${why}); the lease will expire and it is tried again`, { sessionId: record.sessionId, runId: record.runId, ...(error ? { error: String(error) } : {}) });
    };
    try {
      await log.prepare(record.sessionId, NO_HISTORY);
      if (!actors().acquire(record.sessionId)) return giveUp('no session actor');
      await log.sync(record.sessionId);
      // Acquired again: an empty session's actor may have closed while the log was read.
      const actor = actors().acquire(record.sessionId);
      if (!actor) return giveUp('no session actor');
      logger.warn('Ending a run whose node was lost', { sessionId: record.sessionId, runId: record.runId, node: record.nodeId });
      actor.send({ type: 'run.interrupted', runId: record.runId, provider: record.provider, reason: 'node_lost' });
    } catch (error) {
      giveUp('backend', error);
    }
  };
  let sweeping = false;
  const sweep = async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      for (const record of await runs.list()) if (!record.leaseAlive) await takeOver(record);
    } catch (error) {
      logger.debug('Sweep for lost runs failed', { error: String(error) });
    } finally {
      sweeping = false;
    }
  };
  const sweepTimer = setInterval(() => void sweep(), Math.max(50, Math.floor(runs.leaseMs / SWEEPS_PER_LEASE)));
  sweepTimer.unref();
  void sweep();

  return {
    nodeId,

    async prepare(sessionId, from, withActor) {
      try {
        await log.prepare(sessionId, await mirrorFrom(sessionId, from));
      } catch (error) {
        logger.warn('Could not load a session from the backend', { sessionId, error: String(error) });
        return false;
      }
      // No actor to be had: the caller's own acquire gives the refusal.
      if (!withActor()) return true;
      // Asked once an actor exists: a run ending meanwhile reaches it as frames, before or after.
      let record: RunRecordShape | null;
      try {
        record = await runs.get(sessionId);
      } catch {
        return false;
      }
      // Not the actor of before the await: an empty session's actor closes at each subscribe, and
      // another socket's may have come in between (its watchers went on to the next actor).
      const actor = withActor();
      if (actor && record) actor.send(observed(record));
      return true;
    },

    async mirror(sessionId) {
      try {
        await log.prepare(sessionId, NO_HISTORY);
        return true;
      } catch (error) {
        logger.warn('Could not load a session from the backend', { sessionId, error: String(error) });
        return false;
      }
    },

    async leaseForSend(sessionId, actor, run) {
      try {
        // This node's own last writes (a previous run's complete frees the lease) first.
        await new Promise<void>((resolve) => (log.whenWritten ? log.whenWritten(resolve) : resolve()));
        const result = await runs.acquire(sessionId, run);
        if (result.outcome === 'held') {
          actor.send(observed(result.holder));
          return 'held';
        }
        await log.sync(sessionId);
        return 'acquired';
      } catch (error) {
        logger.warn('Could not ask the backend for a run lease', { sessionId, error: String(error) });
        return 'unavailable';
      }
    },

    settleSend(sessionId, actor, runId, lease) {
      if (lease !== 'acquired' || actor.getSnapshot().context.currentRun?.runId === runId) return;
      runs.release(sessionId).catch((error: unknown) => {
        // It expires by itself within the lease time.
        logger.warn('Could not give back an unused run lease', { sessionId, error: String(error) });
      });
    },

    handle(sessionId, event) {
      switch (event.type) {
        case 'remote.abort':
          void toRunNode(sessionId, event.runId, { type: 'abort', sessionId, runId: event.runId });
          return;
        case 'remote.permission-response': {
          const { runId, requestId, decision } = event;
          void toRunNode(sessionId, runId, { type: 'permission-response', sessionId, runId, requestId, decision });
          return;
        }
        case 'permission.opened':
        case 'permission.closed':
          writePending(sessionId);
          return;
        case 'run.ended':
          // Writing the complete ended the lease in the backend; it is forgotten here after that write.
          log.whenWritten?.(() => runs.ended(sessionId));
          return;
        default:
          return;
      }
    },

    stop() {
      clearInterval(sweepTimer);
    },
  };
}
