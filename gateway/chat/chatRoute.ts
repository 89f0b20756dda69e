import { randomUUID } from 'node:crypto';

import { WebSocket } from 'ws';

import { subscriptionView, type ChatSessionLimits } from '../../machines/chatSession.machine.js';
import { CLOSE } from '../../machines/protocolCodes.js';
import type { ChatEventLog, SessionStore } from '../../persistence/types.js';
import type { ActorHost } from '../actorHost.js';
import type { GatewayLimits } from '../config.js';
import type { Logger } from '../logger.js';
import type { ConnectionContext, RouteHandler } from '../route.js';
import type { SendBudget } from '../sendBudget.js';
import type { ChatDeps, ProviderRuntime } from '../types.js';
import type { ChatEffects } from '../wiring.js';
import { createChatConnections, type ChatConnection } from './chatConnections.js';
import { decodeChatFrame, type ChatCommand } from './codec.js';
import { createFanout } from './fanout.js';
import { createRuntimeActors } from './runtimeActors.js';
import { createSessionActors } from './sessionActors.js';
import { createSessionEffects } from './sessionEffects.js';

/**
 * The `/ws` adapter: socket frames in, chat session events out; the sessions' emitted events
 * back out as log appends and socket frames (sessionEffects.ts). Every protocol decision is the
 * chat session machine's; this file maps sockets to subscriber ids and commands to events.
 */

export interface RunningRun<TProvider extends string = string> {
  sessionId: string;
  provider: TProvider;
  /** Epoch ms. */
  startedAt: number;
  lastSeq: number;
}

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
}

/** How long a closing gateway lets runtimes answer their abort before runs are ended regardless. */
export const SHUTDOWN_ABORT_GRACE_MS = 2000;

export function createChatRoute(options: ChatRouteOptions): ChatRoute {
  const { host, limits, logger, runtime, sessions, log, sendBudget } = options;
  const now = options.now ?? Date.now;
  const connections = createChatConnections({ limits, logger, sendBudget, now });
  const { sendError } = connections;

  const effects = createSessionEffects({
    connections,
    fanout: () => fanout,
    log,
    runtime,
    sessions,
    logger,
    now,
    onAttention: options.onAttention,
  });
  const sessionLimits: ChatSessionLimits = {
    sessionIdleTtlMs: limits.sessionIdleTtlMs,
    lockedSessionTimeoutMs: limits.lockedSessionTimeoutMs,
    abortTimeoutMs: limits.abortTimeoutMs,
    shutdownAbortGraceMs: SHUTDOWN_ABORT_GRACE_MS,
    clientMessageIdWindowMs: limits.clientMessageIdWindowMs,
  };
  const actors = createSessionActors({
    host,
    log,
    logger,
    maxLiveSessions: limits.maxLiveSessions,
    limits: sessionLimits,
    onEmitted: effects.handle,
    isConnected: connections.has,
  });

  const fanout = createFanout({
    log,
    highWaterMarkBytes: limits.subscriberHighWaterMarkBytes,
    lowWaterMarkBytes: limits.subscriberLowWaterMarkBytes,
    drainPollMs: limits.subscriberDrainPollMs,
    catchUpBatchEvents: limits.catchUpBatchEvents,
    sendBudget,
    gapNotice: (sessionId) => {
      const actor = actors.get(sessionId);
      const view = actor ? subscriptionView(actor.getSnapshot()) : { isProcessing: false, runId: null, pendingPermissions: [] };
      const { isProcessing, runId, pendingPermissions: pending } = view;
      return JSON.stringify(effects.ackFrame(sessionId, { isProcessing, runId, pending, lastSeq: log.latestSeq(sessionId), gap: true }));
    },
  });

  // ---- commands: each becomes an event of the session it names ----

  const handleSend = async (connection: ChatConnection, command: Extract<ChatCommand, { type: 'chat.send' }>) => {
    const { sessionId } = command;
    // The lookups a machine cannot do; what they mean for the send is the session's to decide.
    const record = await sessions.getSession(sessionId);
    const actor = actors.acquire(sessionId);
    if (!actor) return sendError(connection.ws, 'INTERNAL_ERROR', sessionId, actors.refusal());
    connection.joined.add(sessionId);
    actor.send({
      type: 'client.send',
      subscriberId: connection.id,
      sessionFound: record !== null,
      providerAvailable: record !== null && runtime.hasRuntime(record.provider),
      runId: randomUUID(),
      provider: record?.provider ?? '',
      content: command.content,
      // As sent: what reaches the runtime is decided when the run starts (runtimeActors.ts).
      options: command.options,
      projectPath: record?.projectPath ?? null,
      userId: connection.userId,
      providerSessionId: record?.providerSessionId ?? null,
      startedAt: now(),
      ...(command.clientMessageId !== undefined ? { clientMessageId: command.clientMessageId } : {}),
    });
  };

  const handleSubscribe = (connection: ChatConnection, command: Extract<ChatCommand, { type: 'chat.subscribe' }>) => {
    for (const target of command.sessions) {
      // A resource bound of this socket, not a rule of the session.
      if (!connection.sessions.has(target.sessionId) && connection.sessions.size >= limits.maxSubscriptionsPerSocket) {
        const detail = `A socket may be subscribed to at most ${limits.maxSubscriptionsPerSocket} sessions.`;
        return sendError(connection.ws, 'PAYLOAD_TOO_LARGE', target.sessionId, detail);
      }
      const actor = actors.acquire(target.sessionId);
      if (!actor) {
        sendError(connection.ws, 'INTERNAL_ERROR', target.sessionId, actors.refusal());
        continue;
      }
      connection.joined.add(target.sessionId);
      const { lastSeq, history } = target;
      actor.send({ type: 'client.subscribe', subscriberId: connection.id, lastSeq, history, oldestSeq: log.oldestSeq(target.sessionId) });
    }
  };

  /** Takes a socket off a session: its cursor here, its subscription in the session. */
  const leave = (connection: ChatConnection, sessionId: string, type: 'client.unsubscribe' | 'client.dropped') => {
    connection.sessions.delete(sessionId);
    connection.joined.delete(sessionId);
    actors.depart(sessionId, { type, subscriberId: connection.id });
  };

  const handleAbort = (connection: ChatConnection, sessionId: string) => {
    const actor = actors.acquire(sessionId);
    if (!actor) return sendError(connection.ws, 'INTERNAL_ERROR', sessionId, actors.refusal());
    actor.send({ type: 'client.abort', subscriberId: connection.id });
  };

  /** An approval names no session: it goes to the one of this socket's sessions that opened it. */
  const handlePermissionResponse = (connection: ChatConnection, command: Extract<ChatCommand, { type: 'chat.permission-response' }>) => {
    const owners = effects.permissionOwners(command.requestId);
    const sessionId = owners && [...owners].find((id) => connection.joined.has(id));
    const actor = sessionId ? actors.get(sessionId) : undefined;
    if (!actor) return sendError(connection.ws, 'UNKNOWN_PERMISSION_REQUEST', null);
    const { requestId, decision } = command;
    actor.send({ type: 'client.permission-response', subscriberId: connection.id, requestId, decision });
  };

  const handleCommand = async (connection: ChatConnection, command: ChatCommand) => {
    switch (command.type) {
      case 'chat.send':
        return handleSend(connection, command);
      case 'chat.subscribe':
        return handleSubscribe(connection, command);
      case 'chat.unsubscribe':
        for (const sessionId of command.sessionIds) leave(connection, sessionId, 'client.unsubscribe');
        return;
      case 'chat.abort':
        return handleAbort(connection, command.sessionId);
      case 'chat.permission-response':
        return handlePermissionResponse(connection, command);
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
      .then(() => handleCommand(connection, decoded.command))
      .catch((error: unknown) => {
        const sessionId = 'sessionId' in decoded.command ? decoded.command.sessionId || null : null;
        logger.error('Chat frame failed', { type: decoded.command.type, error: String(error) });
        sendError(connection.ws, 'INTERNAL_ERROR', sessionId, error instanceof Error ? error.message : String(error));
      });
  };

  const snapshotOf = (sessionId: string) => actors.get(sessionId)?.getSnapshot();

  return {
    effects: createRuntimeActors({ runtime, prepareRun: options.prepareRun, logger }),
    clients: connections.clients,

    handle(ws, context: ConnectionContext) {
      const connection: ChatConnection = {
        id: connections.nextId(),
        ws,
        userId: context.userId,
        sessions: new Map(),
        joined: new Set(),
        drainTimer: null,
        // The upgrade request's socket is the one `ws` writes to.
        transport: context.request?.socket ?? null,
        queue: Promise.resolve(),
      };
      connections.add(connection);
      ws.on('message', (raw, isBinary) => onMessage(connection, raw, isBinary));
      ws.on('close', () => {
        connections.remove(connection);
        fanout.release(connection);
        // A drop, not a leave: every session it joined (subscribed, or sent in) is told.
        for (const sessionId of [...connection.joined]) leave(connection, sessionId, 'client.dropped');
      });
    },

    listRunningRuns() {
      const runs: RunningRun[] = [];
      for (const [sessionId, actor] of actors.entries()) {
        const { value, context } = actor.getSnapshot();
        const run = context.currentRun;
        if ((value === 'running' || value === 'stopping') && run) {
          runs.push({ sessionId, provider: run.provider, startedAt: run.startedAt, lastSeq: context.seq });
        }
      }
      return runs;
    },

    isProcessing(sessionId) {
      const snapshot = snapshotOf(sessionId);
      return snapshot ? subscriptionView(snapshot).isProcessing : false;
    },

    broadcast: connections.broadcast,

    listSessions() {
      return [...actors.entries()].map(([sessionId, actor]) => {
        const { value, context } = actor.getSnapshot();
        return { sessionId, state: String(value), seq: context.seq, subscribers: context.subscribers.length };
      });
    },

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
