import { WebSocket } from 'ws';

import type { ChatSessionLimits } from '../../machines/chatSession.machine.js';
import { CLOSE } from '../../machines/protocolCodes.js';
import type { ClusterBackend } from '../../persistence/cluster/types.js';
import type { ChatEventLog, SessionStore } from '../../persistence/types.js';
import type { ActorHost } from '../actorHost.js';
import type { GatewayLimits } from '../config.js';
import type { Logger } from '../logger.js';
import type { ConnectionContext, RouteHandler } from '../route.js';
import type { SendBudget } from '../sendBudget.js';
import type { ChatDeps, ProviderRuntime } from '../types.js';
import type { ChatEffects } from '../wiring.js';
import { createChatConnections, type ChatConnection } from './chatConnections.js';
import { createChatCommands } from './chatCommands.js';
import { createClusterLink } from './clusterLink.js';
import { decodeChatFrame } from './codec.js';
import { createFanout } from './fanout.js';
import { createRuntimeActors } from './runtimeActors.js';
import { createSessionActors, type RunningRun } from './sessionActors.js';
import { createSessionEffects } from './sessionEffects.js';

/**
 * The `/ws` adapter: socket frames in, chat session events out; the sessions' emitted events
 * back out as log appends and socket frames (sessionEffects.ts). Every protocol decision is the
 * chat session machine's; this file maps sockets to subscriber ids and commands to events.
 */

export type { RunningRun } from './sessionActors.js';

export interface ChatRoute extends RouteHandler {
  /** The run machine's effects on the host's runtime, for the wiring module. */
  readonly effects: ChatEffects;
  /** Every open `/ws` socket of this gateway. */
  readonly clients: Set<WebSocket>;
  listRunningRuns(): RunningRun[];
  isProcessing(sessionId: string): boolean;
  /** Sends a gateway frame (`session_upserted`, `loading_progress`…) to every `/ws` socket. */
  broadcast(frame: Record<string, unknown>): void;
  /**
   * Closes runs a crash left open in the log: each session sequences a synthetic `complete`
   * (call once at start-up, after the actor system started).
   */
  recoverInterruptedRuns(): number;
  /**
   * Forgets a deleted session: its live actor closes and its log goes. False (nothing done)
   * while a run is running there.
   */
  forgetSession(sessionId: string): boolean;
  /** Live session actors with their state, for inspection. */
  listSessions(): Array<{ sessionId: string; state: string; seq: number; subscribers: number }>;
}

export interface ChatRouteOptions {
  host: ActorHost;
  limits: GatewayLimits;
  logger: Logger;
  runtime: ProviderRuntime;
  sessions: SessionStore;
  /** The host's say over what reaches a runtime (`ChatDeps.prepareRun`). */
  prepareRun?: ChatDeps['prepareRun'];
  /** Told when a run needs someone and nobody watches (`ChatDeps.onAttention`). */
  onAttention?: ChatDeps['onAttention'];
  log: ChatEventLog;
  /** The gateway-wide bound on bytes queued to sockets (`maxTotalSocketBufferBytes`). */
  sendBudget: SendBudget;
  /** Wall clock for timestamps (injectable for tests). */
  now?: () => number;
  /** [cluster] The shared backend this gateway is a node of (docs/CLUSTER.md). */
  cluster?: ClusterBackend;
}

/** How long a closing gateway lets runtimes answer their abort before runs are ended regardless. */
export const SHUTDOWN_ABORT_GRACE_MS = 2000;

/** What each session machine is given of the gateway's limits. */
function sessionLimitsOf(limits: GatewayLimits): ChatSessionLimits {
  return {
    sessionIdleTtlMs: limits.sessionIdleTtlMs,
    lockedSessionTimeoutMs: limits.lockedSessionTimeoutMs,
    abortTimeoutMs: limits.abortTimeoutMs,
    shutdownAbortGraceMs: SHUTDOWN_ABORT_GRACE_MS,
    clientMessageIdWindowMs: limits.clientMessageIdWindowMs,
  };
}

export function createChatRoute(options: ChatRouteOptions): ChatRoute {
  const { host, limits, logger, runtime, sessions, log, sendBudget } = options;
  const now = options.now ?? Date.now;
  const connections = createChatConnections({ limits, logger, sendBudget, now });
  const { sendError } = connections;

  const { onAttention } = options;
  const effects = createSessionEffects({ connections, fanout: () => fanout, log, runtime, sessions, logger, now, onAttention });
  const cluster = options.cluster
    ? createClusterLink({ cluster: options.cluster, actors: () => actors, logger, announceGap: (sessionId) => announceGap(sessionId) })
    : undefined;
  const actors = createSessionActors({
    host,
    log,
    logger,
    maxLiveSessions: limits.maxLiveSessions,
    limits: sessionLimitsOf(limits),
    onEmitted: cluster
      ? (sessionId, event) => {
          effects.handle(sessionId, event);
          cluster.handle(sessionId, event);
        }
      : effects.handle,
    onClosed: effects.sessionClosed,
    isConnected: connections.has,
  });

  /** The `chat_subscribed { gap: true }` a socket gets when it must reload. */
  const gapAck = (sessionId: string) => {
    const { isProcessing, runId, pendingPermissions: pending } = actors.view(sessionId);
    return effects.ackFrame(sessionId, { isProcessing, runId, pending, lastSeq: log.latestSeq(sessionId), gap: true });
  };
  const fanout = createFanout({
    log,
    highWaterMarkBytes: limits.subscriberHighWaterMarkBytes,
    lowWaterMarkBytes: limits.subscriberLowWaterMarkBytes,
    drainPollMs: limits.subscriberDrainPollMs,
    catchUpBatchEvents: limits.catchUpBatchEvents,
    sendBudget,
    gapNotice: (sessionId) => JSON.stringify(gapAck(sessionId)),
  });

  const commands = createChatCommands({ actors, connections, effects, limits, log, runtime, sessions, now, cluster });

  /** [cluster] This node's sockets of a session whose view here was dropped: they reload (the gap notice). */
  const announceGap = (sessionId: string) => {
    const notice = gapAck(sessionId);
    for (const connection of connections.values()) {
      if (connection.sessions.delete(sessionId)) connections.send(connection.ws, notice);
    }
  };

  const onMessage = (connection: ChatConnection, raw: Parameters<typeof decodeChatFrame>[0], isBinary: boolean) => {
    const decoded = decodeChatFrame(raw, isBinary, limits);
    if (!decoded.ok) {
      // Queued like any frame: protocol_error carries no request id, so answers must keep frame order.
      connection.queue = connection.queue.then(() => sendError(connection.ws, decoded.code, decoded.sessionId, decoded.detail));
      return;
    }
    connection.queue = connection.queue
      .then(() => commands.handle(connection, decoded.command))
      .catch((error: unknown) => {
        const sessionId = 'sessionId' in decoded.command ? decoded.command.sessionId || null : null;
        logger.error('Chat frame failed', { type: decoded.command.type, error: String(error) });
        sendError(connection.ws, 'INTERNAL_ERROR', sessionId, error instanceof Error ? error.message : String(error));
      });
  };

  /**
   * Each open socket's connection, for the two listeners every socket shares: a pair of closures
   * per socket would cost memory for every open socket.
   */
  const connectionOf = new WeakMap<WebSocket, ChatConnection>();
  const onSocketMessage = function (this: WebSocket, raw: Parameters<typeof decodeChatFrame>[0], isBinary: boolean) {
    const connection = connectionOf.get(this);
    if (connection) onMessage(connection, raw, isBinary);
  };
  const onSocketClose = function (this: WebSocket) {
    sendBudget.forget(this);
    const connection = connectionOf.get(this);
    if (!connection) return;
    connections.remove(connection);
    fanout.release(connection);
    // A drop, not a leave: every session it joined (subscribed, or sent in) is told.
    for (const sessionId of [...connection.joined]) commands.leave(connection, sessionId, 'client.dropped');
  };

  return {
    effects: createRuntimeActors({ runtime, prepareRun: options.prepareRun, logger }),
    clients: connections.clients,

    handle(ws, context: ConnectionContext) {
      // Counted by the send budget from its first frame on; forgotten in `onSocketClose`.
      sendBudget.track(ws, false);
      const connection: ChatConnection = {
        id: connections.nextId(),
        ws,
        userId: context.userId,
        sessions: new Map(),
        joined: new Set(),
        drainTimer: null,
        // Set here, not added later: a field added to the object afterwards costs a property array.
        drainListener: null,
        corked: false,
        // The upgrade request's socket is the one `ws` writes to.
        transport: context.request?.socket ?? null,
        queue: Promise.resolve(),
      };
      connections.add(connection);
      connectionOf.set(ws, connection);
      ws.on('message', onSocketMessage);
      ws.on('close', onSocketClose);
    },

    listRunningRuns: () => actors.runningRuns(),
    isProcessing: (sessionId) => actors.isProcessing(sessionId),
    broadcast: connections.broadcast,

    listSessions: () => actors.summaries(),

    forgetSession(sessionId) {
      if (!actors.forget(sessionId)) return false;
      log.forgetSession?.(sessionId);
      return true;
    },

    recoverInterruptedRuns() {
      let recovered = 0;
      for (const run of log.unfinishedRuns()) {
        const actor = actors.acquire(run.sessionId);
        if (!actor) {
          logger.error('Could not recover an interrupted run: no session actor', { sessionId: run.sessionId, runId: run.runId });
          continue;
        }
        actor.send({ type: 'run.interrupted', runId: run.runId, provider: run.provider });
        recovered += 1;
      }
      if (recovered > 0) {
        log.flush();
        logger.warn('Completed runs interrupted by a previous shutdown', { runs: recovered });
      }
      return recovered;
    },

    async close() {
      cluster?.stop();
      // Running sessions abort their runs and end them after the grace (a state of the machine).
      await actors.shutdown();
      log.flush();
      for (const ws of connections.clients) {
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
          ws.close(CLOSE.SERVER_SHUTTING_DOWN.code, CLOSE.SERVER_SHUTTING_DOWN.reason);
        }
      }
      for (const connection of connections.values()) fanout.release(connection);
    },
  };
}
