import { randomUUID } from 'node:crypto';

import { WebSocket } from 'ws';
import { fromPromise, type AnyActorRef } from 'xstate';

import { chatRunMachine, type RuntimeInvocation } from '../../machines/chatRun.machine.js';
import { sequenceMessage, type PendingPermission, type SequencedFrame } from '../../machines/chatMessage.js';
import {
  chatSessionMachine,
  type ChatSessionEmitted,
  type ChatSessionEvent,
  type ChatSessionOutput,
} from '../../machines/chatSession.machine.js';
import { protocolError, type ProtocolErrorCode } from '../../machines/protocolErrors.js';
import type { ChatEventLog, SessionDescription, SessionStore } from '../../persistence/types.js';
import type { ActorHost } from '../actorHost.js';
import type { GatewayLimits } from '../config.js';
import type { Logger } from '../logger.js';
import type { ConnectionContext, RouteHandler } from '../route.js';
import { admitOrCut, frameBytes, type SendBudget } from '../sendBudget.js';
import type { ChatDeps, ProviderRuntime } from '../types.js';
import { decodeChatFrame, type ChatCommand } from './codec.js';
import { createFanout, type Subscriber } from './fanout.js';
import { createRuntimeWriter } from './runtimeWriter.js';

/**
 * The `/ws` adapter: turns socket frames into chat session events, and the session actors'
 * emitted events into log appends and socket frames. Sockets never enter machine context;
 * this file keeps the subscriber id → socket map.
 */

export interface RunningRun<TProvider extends string = string> {
  sessionId: string;
  provider: TProvider;
  /** Epoch ms. */
  startedAt: number;
  lastSeq: number;
}

export interface ChatRoute extends RouteHandler {
  /** The chat session machine with real runtime actors, for `host.start`. */
  readonly logic: typeof chatSessionMachine;
  /** Every open `/ws` socket of this gateway. */
  readonly clients: Set<WebSocket>;
  listRunningRuns(): RunningRun[];
  isProcessing(sessionId: string): boolean;
  /** Sends a gateway frame (`session_upserted`, `loading_progress`…) to every `/ws` socket. */
  broadcast(frame: Record<string, unknown>): void;
  /** Closes runs a crash left open in the log with a synthetic `complete` (call once at start-up). */
  recoverInterruptedRuns(): number;
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
  log: ChatEventLog;
  /** The gateway-wide bound on bytes queued to sockets (`maxTotalSocketBufferBytes`). */
  sendBudget: SendBudget;
  /** Wall clock for timestamps (injectable for tests). */
  now?: () => number;
}

/** How long close() lets runtimes answer their abort before runs are ended regardless. */
const SHUTDOWN_ABORT_GRACE_MS = 2000;

interface ChatConnection extends Subscriber {
  userId: string | number | null;
  /** Every session this socket subscribed to or sent in: the ones to leave when it closes. */
  joined: Set<string>;
  /** Frames are handled one at a time, in order, even when a handler awaits the session store. */
  queue: Promise<void>;
}

export function createChatRoute(options: ChatRouteOptions): ChatRoute {
  const { host, limits, logger, runtime, sessions, log, sendBudget } = options;
  const now = options.now ?? Date.now;
  const clients = new Set<WebSocket>();
  const connections = new Map<string, ChatConnection>();
  const liveSessions = new Map<string, AnyActorRef>();
  /**
   * Subscribers of sessions that have no live actor: an empty session (nothing ever sequenced)
   * closes after each subscribe and hands its watchers back here; the next actor of that id gets
   * them as input. Bounded by sockets × maxSubscriptionsPerSocket.
   */
  const watchers = new Map<string, Set<string>>();
  let nextConnectionId = 1;
  let closing = false;

  /**
   * Answers (acks, errors, broadcasts) cannot be skipped and caught up later like sequenced
   * frames. A socket that stopped reading but keeps asking is cut at `maxSocketBufferBytes`, and
   * a socket whose answer would take the bytes queued to all sockets over
   * `maxTotalSocketBufferBytes` is cut too (as on /shell), rather than the gateway buffering it.
   */
  const sendAnswer = (ws: WebSocket, json: string) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (admitOrCut(sendBudget, ws, frameBytes(json), limits.maxSocketBufferBytes, logger, '/ws')) ws.send(json);
  };
  const send = (ws: WebSocket, frame: Record<string, unknown>) => sendAnswer(ws, JSON.stringify(frame));
  const sendError = (ws: WebSocket, code: ProtocolErrorCode, sessionId: string | null, detail?: string) =>
    send(ws, { ...protocolError(code, sessionId, detail), timestamp: new Date(now()).toISOString() });

  const sessionSnapshot = (actor: AnyActorRef) =>
    actor.getSnapshot() as {
      value: string;
      status: string;
      context: {
        seq: number;
        subscribers: readonly string[];
        currentRun: { runId: string; provider: string; startedAt: number } | null;
        pendingPermissions: readonly PendingPermission[];
      };
    };

  /**
   * The runtime's own list (baseline), plus any request the session saw in its stream that the
   * runtime did not list (a runtime that keys approvals by its native id would report none).
   */
  const pendingFor = (sessionId: string, tracked: readonly PendingPermission[]): unknown[] => {
    let fromRuntime: unknown[] = [];
    try {
      const listed = runtime.getPendingApprovalsForSession(sessionId);
      if (Array.isArray(listed)) fromRuntime = listed;
    } catch (error) {
      logger.warn('getPendingApprovalsForSession failed', { sessionId, error: String(error) });
    }
    const listedIds = new Set(
      fromRuntime.map((entry) => (entry && typeof entry === 'object' ? (entry as { requestId?: unknown }).requestId : undefined)),
    );
    const missing = tracked
      .filter((p) => !listedIds.has(p.requestId))
      .map((p) => ({ requestId: p.requestId, toolName: p.toolName, input: p.input, sessionId }));
    return [...fromRuntime, ...missing];
  };

  const ackFrame = (
    sessionId: string,
    fields: { isProcessing: boolean; lastSeq: number; runId: string | null; gap: boolean; pending: readonly PendingPermission[] },
  ) => ({
    kind: 'chat_subscribed',
    sessionId,
    isProcessing: fields.isProcessing,
    lastSeq: fields.lastSeq,
    pendingPermissions: pendingFor(sessionId, fields.pending),
    timestamp: new Date(now()).toISOString(),
    runId: fields.runId,
    oldestSeq: log.oldestSeq(sessionId),
    gap: fields.gap,
  });

  const fanout = createFanout({
    log,
    highWaterMarkBytes: limits.subscriberHighWaterMarkBytes,
    lowWaterMarkBytes: limits.subscriberLowWaterMarkBytes,
    drainPollMs: limits.subscriberDrainPollMs,
    catchUpBatchEvents: limits.catchUpBatchEvents,
    sendBudget,
    gapNotice: (sessionId) => {
      const actor = liveSessions.get(sessionId);
      const snapshot = actor ? sessionSnapshot(actor) : null;
      return JSON.stringify(
        ackFrame(sessionId, {
          isProcessing: snapshot?.value === 'running',
          lastSeq: log.latestSeq(sessionId),
          runId: snapshot?.context.currentRun?.runId ?? null,
          gap: true,
          pending: snapshot?.context.pendingPermissions ?? [],
        }),
      );
    },
  });

  // ---- session actor output ----

  const stampAndSerialize = (frame: SequencedFrame): string => {
    if (typeof frame.timestamp !== 'string') frame.timestamp = new Date(now()).toISOString();
    if (typeof frame.id !== 'string') frame.id = randomUUID();
    try {
      return JSON.stringify(frame);
    } catch (error) {
      // The seq is already assigned: replace the payload rather than lose the number.
      logger.warn('A runtime message could not be serialized', { sessionId: frame.sessionId, error: String(error) });
      return JSON.stringify({
        kind: 'error',
        content: 'The runtime sent a message that could not be serialized.',
        sessionId: frame.sessionId,
        seq: frame.seq,
        runId: frame.runId,
        id: frame.id,
        timestamp: frame.timestamp,
      });
    }
  };

  const onFrame = (sessionId: string, frame: SequencedFrame, subscribers: readonly string[]) => {
    const json = stampAndSerialize(frame);
    log.append({ sessionId, seq: frame.seq, runId: frame.runId, kind: frame.kind, json, at: now() });
    if (frame.kind === 'complete') {
      log.runCompleted(frame.runId, {
        exitCode: typeof frame.exitCode === 'number' ? frame.exitCode : 1,
        aborted: frame.aborted === true,
        completedAt: now(),
      });
    }
    for (const id of subscribers) {
      const connection = connections.get(id);
      if (connection) fanout.deliver(connection, sessionId, frame.seq, json);
    }
  };

  const onSubscribed = (sessionId: string, event: Extract<ChatSessionEmitted, { type: 'subscribed' }>) => {
    const connection = connections.get(event.subscriberId);
    if (!connection) return;
    const oldest = log.oldestSeq(sessionId);
    const replay = event.replayAfter !== null && event.replayAfter < event.lastSeq;
    // Gap: events the client has not seen are gone from the log, or the client claims to be
    // ahead of the log (a wiped store): either way it must reload over REST, never silently.
    const gap = (replay && oldest > (event.replayAfter ?? 0) + 1) || event.clientLastSeq > event.lastSeq;
    // The ack's lastSeq may name an event of this turn: it leaves with the turn's write.
    fanout.hold(connection);
    send(
      connection.ws,
      ackFrame(sessionId, {
        isProcessing: event.isProcessing,
        lastSeq: event.lastSeq,
        runId: event.runId,
        gap,
        pending: event.pendingPermissions,
      }),
    );
    // Synchronous with the subscribe transition: no event can be sequenced between this read
    // of the log and the socket becoming live.
    fanout.attach(connection, sessionId, replay ? (event.replayAfter ?? 0) : event.lastSeq);
  };

  const onSessionIdAssigned = async (sessionId: string, providerSessionId: string) => {
    try {
      await sessions.assignProviderSessionId(sessionId, providerSessionId);
      const record = await sessions.getSession(sessionId);
      let described: SessionDescription | null = null;
      if (sessions.describeSession) {
        described = await sessions.describeSession(sessionId);
        // The host's own answer that this session is not shown (archived, gone): no upsert.
        if (described === null) return;
      }
      broadcast({
        kind: 'session_upserted',
        sessionId,
        // The baseline sends it too: clients use it as an alias of the app id (claudecodeui's
        // sidebar matches rows by it and redirects a view opened on the provider's id).
        providerSessionId,
        provider: record?.provider ?? null,
        session: described?.session ?? { id: sessionId, summary: null, messageCount: 0, lastActivity: null },
        project: described ? described.project : record?.projectPath ? { path: record.projectPath } : null,
        timestamp: new Date(now()).toISOString(),
      });
    } catch (error) {
      logger.error('Could not store the provider session id', { sessionId, error: String(error) });
    }
  };

  const handleEmitted = (sessionId: string, event: ChatSessionEmitted) => {
    switch (event.type) {
      case 'frame':
        onFrame(sessionId, event.frame, event.subscribers);
        return;
      case 'reply': {
        const connection = connections.get(event.subscriberId);
        if (connection) send(connection.ws, { ...event.frame, timestamp: new Date(now()).toISOString() });
        return;
      }
      case 'subscribed':
        onSubscribed(sessionId, event);
        return;
      case 'run.started':
        log.runStarted({ runId: event.runId, sessionId, provider: event.provider, startedAt: event.startedAt });
        return;
      case 'permission.resolve':
        try {
          runtime.resolveToolApproval(event.requestId, event.decision);
        } catch (error) {
          logger.error('resolveToolApproval failed', { sessionId, requestId: event.requestId, error: String(error) });
        }
        return;
      case 'session-id.assigned':
        void onSessionIdAssigned(sessionId, event.providerSessionId);
        return;
    }
  };

  // ---- session actors ----

  const sessionActor = (sessionId: string, spawn: boolean): AnyActorRef | null => {
    const existing = liveSessions.get(sessionId);
    if (existing) return existing;
    if (!spawn || liveSessions.size >= limits.maxLiveSessions) return null;
    const handedBack = watchers.get(sessionId);
    watchers.delete(sessionId);
    const actor = host.spawn('chatSession', `chat:${sessionId}`, {
      sessionId,
      latestSeq: log.latestSeq(sessionId),
      limits: {
        sessionIdleTtlMs: limits.sessionIdleTtlMs,
        lockedSessionTimeoutMs: limits.lockedSessionTimeoutMs,
        abortTimeoutMs: limits.abortTimeoutMs,
      },
      watchers: handedBack ? [...handedBack] : [],
    });
    liveSessions.set(sessionId, actor);
    actor.on('*', (event: ChatSessionEmitted) => handleEmitted(sessionId, event));
    actor.subscribe({
      complete: () => {
        if (liveSessions.get(sessionId) === actor) liveSessions.delete(sessionId);
        const output = actor.getSnapshot().output as ChatSessionOutput | undefined;
        // Only sockets still open keep watching (one may have closed inside this transition).
        const still = (output?.watchers ?? []).filter((id) => connections.has(id));
        if (still.length > 0) watchers.set(sessionId, new Set(still));
        // The durable log keeps the events; only the in-memory replay tail is let go.
        log.release?.(sessionId);
      },
      error: (error: unknown) => {
        logger.error('Chat session actor failed', { sessionId, error: String(error) });
        if (liveSessions.get(sessionId) === actor) liveSessions.delete(sessionId);
      },
    });
    return actor;
  };

  const sendToSession = (actor: AnyActorRef, event: ChatSessionEvent) => actor.send(event);

  // ---- commands ----

  const handleSend = async (connection: ChatConnection, command: Extract<ChatCommand, { type: 'chat.send' }>) => {
    const { ws } = connection;
    const { sessionId } = command;
    if (!sessionId) return sendError(ws, 'SESSION_ID_REQUIRED', null);
    if (sessionId.length > limits.maxSessionIdLength) return sendError(ws, 'SESSION_NOT_FOUND', null, 'Session id is too long.');
    const record = await sessions.getSession(sessionId);
    if (!record) return sendError(ws, 'SESSION_NOT_FOUND', sessionId, `Session "${sessionId}" was not found. Create it via POST /api/providers/sessions first.`);
    if (!runtime.hasRuntime(record.provider)) {
      return sendError(ws, 'UNSUPPORTED_PROVIDER', sessionId, `Provider "${record.provider}" is not available.`);
    }
    if (closing) return sendError(ws, 'INTERNAL_ERROR', sessionId, 'The gateway is shutting down.');
    const actor = sessionActor(sessionId, true);
    if (!actor) return sendError(ws, 'INTERNAL_ERROR', sessionId, 'Too many live sessions on this gateway.');
    connection.joined.add(sessionId);
    sendToSession(actor, {
      type: 'client.send',
      subscriberId: connection.id,
      runId: randomUUID(),
      provider: record.provider,
      content: command.content,
      // As sent: what reaches the runtime is decided when the run starts (runtimeOptions).
      options: command.options,
      projectPath: record.projectPath,
      userId: connection.userId,
      providerSessionId: record.providerSessionId,
      startedAt: now(),
    });
  };

  const handleSubscribe = (connection: ChatConnection, command: Extract<ChatCommand, { type: 'chat.subscribe' }>) => {
    let accepted = 0;
    for (const target of command.sessions) {
      if (target.sessionId.length > limits.maxSessionIdLength) continue;
      const alreadyAttached = connection.sessions.has(target.sessionId);
      if (!alreadyAttached && connection.sessions.size >= limits.maxSubscriptionsPerSocket) {
        sendError(
          connection.ws,
          'PAYLOAD_TOO_LARGE',
          target.sessionId,
          `A socket may be subscribed to at most ${limits.maxSubscriptionsPerSocket} sessions.`,
        );
        break;
      }
      const actor = sessionActor(target.sessionId, true);
      if (!actor) {
        sendError(connection.ws, 'INTERNAL_ERROR', target.sessionId, 'Too many live sessions on this gateway.');
        continue;
      }
      connection.joined.add(target.sessionId);
      sendToSession(actor, { type: 'client.subscribe', subscriberId: connection.id, lastSeq: target.lastSeq, history: target.history });
      accepted += 1;
    }
    return accepted;
  };

  /** Takes a socket off a session's subscribers, wherever they are kept (live actor or watchers). */
  const leave = (connection: ChatConnection, sessionId: string) => {
    connection.sessions.delete(sessionId);
    connection.joined.delete(sessionId);
    const actor = liveSessions.get(sessionId);
    if (actor) return actor.send({ type: 'client.unsubscribe', subscriberId: connection.id });
    const watching = watchers.get(sessionId);
    if (watching?.delete(connection.id) && watching.size === 0) watchers.delete(sessionId);
  };

  const handleUnsubscribe = (connection: ChatConnection, sessionIds: string[]) => {
    for (const sessionId of sessionIds) leave(connection, sessionId);
  };

  const handleAbort = (connection: ChatConnection, sessionId: string) => {
    if (!sessionId) return sendError(connection.ws, 'SESSION_ID_REQUIRED', null);
    const actor = liveSessions.get(sessionId);
    if (!actor) return sendError(connection.ws, 'NO_ACTIVE_RUN', sessionId);
    sendToSession(actor, { type: 'client.abort', subscriberId: connection.id });
  };

  const handlePermissionResponse = (
    connection: ChatConnection,
    command: Extract<ChatCommand, { type: 'chat.permission-response' }>,
  ) => {
    // Only sessions this socket is attached to are searched: a socket can never answer a
    // request of a session it does not watch.
    for (const sessionId of connection.sessions.keys()) {
      const actor = liveSessions.get(sessionId);
      if (!actor) continue;
      const { context } = sessionSnapshot(actor);
      if (!context.subscribers.includes(connection.id)) continue;
      if (context.pendingPermissions.some((p) => p.requestId === command.requestId)) {
        sendToSession(actor, {
          type: 'client.permission-response',
          subscriberId: connection.id,
          requestId: command.requestId,
          decision: command.decision,
        });
        return;
      }
    }
    sendError(connection.ws, 'UNKNOWN_PERMISSION_REQUEST', null);
  };

  const handleCommand = async (connection: ChatConnection, command: ChatCommand) => {
    switch (command.type) {
      case 'chat.send':
        return handleSend(connection, command);
      case 'chat.subscribe':
        handleSubscribe(connection, command);
        return;
      case 'chat.unsubscribe':
        return handleUnsubscribe(connection, command.sessionIds);
      case 'chat.abort':
        return handleAbort(connection, command.sessionId);
      case 'chat.permission-response':
        return handlePermissionResponse(connection, command);
    }
  };

  const broadcast = (frame: Record<string, unknown>) => {
    const json = JSON.stringify(frame);
    for (const ws of clients) sendAnswer(ws, json);
  };

  // ---- the provided machine ----

  /**
   * The options a runtime gets: what the host's `prepareRun` allows of the client's (nothing
   * without it), then `sessionId`, `projectPath` and `cwd` from the session row, which always win.
   */
  const runtimeOptions = async (input: RuntimeInvocation): Promise<Record<string, unknown>> => {
    const allowed = options.prepareRun
      ? await options.prepareRun({
          provider: input.provider,
          sessionId: input.sessionId,
          projectPath: input.projectPath,
          providerSessionId: input.providerSessionId,
          content: input.content,
          clientOptions: input.options,
          userId: input.userId,
        })
      : {};
    const where = input.projectPath ?? undefined;
    return { ...allowed, sessionId: input.sessionId, projectPath: where, cwd: where };
  };

  const runLogic = chatRunMachine.provide({
    actors: {
      runtime: fromPromise(async ({ input, system }) => {
        const writer = createRuntimeWriter({
          runActor: () => system.get(`chat-run:${input.runId}`) as AnyActorRef | undefined,
          userId: input.userId,
          providerSessionId: input.providerSessionId,
          logger,
          runId: input.runId,
        });
        return runtime.run(input.provider, input.content, await runtimeOptions(input), writer);
      }),
      abortRuntime: fromPromise(async ({ input }) => (await runtime.abort(input.provider, input.sessionId)) === true),
    },
  });
  const logic = chatSessionMachine.provide({ actors: { chatRun: runLogic } });

  return {
    logic,
    clients,

    handle(ws, context: ConnectionContext) {
      const connection: ChatConnection = {
        id: `ws:${nextConnectionId++}`,
        ws,
        userId: context.userId,
        sessions: new Map(),
        joined: new Set(),
        drainTimer: null,
        // The upgrade request's socket is the one `ws` writes to.
        transport: context.request?.socket ?? null,
        queue: Promise.resolve(),
      };
      connections.set(connection.id, connection);
      clients.add(ws);
      ws.on('message', (raw, isBinary) => {
        const decoded = decodeChatFrame(raw, isBinary);
        if (!decoded.ok) {
          // Queued like any frame: protocol_error carries no request id, so answers must keep frame order.
          connection.queue = connection.queue.then(() => sendError(ws, decoded.code, decoded.sessionId, decoded.detail));
          return;
        }
        connection.queue = connection.queue
          .then(() => handleCommand(connection, decoded.command))
          .catch((error: unknown) => {
            const sessionId = 'sessionId' in decoded.command ? decoded.command.sessionId || null : null;
            logger.error('Chat frame failed', { type: decoded.command.type, error: String(error) });
            sendError(ws, 'INTERNAL_ERROR', sessionId, error instanceof Error ? error.message : String(error));
          });
      });
      ws.on('close', () => {
        connections.delete(connection.id);
        clients.delete(ws);
        fanout.release(connection);
        // `joined` also holds sessions this socket sent in without subscribing (the machine
        // attached the sender), so no scan of every live session is needed.
        for (const sessionId of [...connection.joined]) leave(connection, sessionId);
      });
    },

    listRunningRuns() {
      const runs: RunningRun[] = [];
      for (const [sessionId, actor] of liveSessions) {
        const snapshot = sessionSnapshot(actor);
        const run = snapshot.context.currentRun;
        if (snapshot.value === 'running' && run) {
          runs.push({ sessionId, provider: run.provider, startedAt: run.startedAt, lastSeq: snapshot.context.seq });
        }
      }
      return runs;
    },

    isProcessing(sessionId) {
      const actor = liveSessions.get(sessionId);
      return actor ? sessionSnapshot(actor).value === 'running' : false;
    },

    broadcast,

    listSessions() {
      return [...liveSessions].map(([sessionId, actor]) => {
        const snapshot = sessionSnapshot(actor);
        return {
          sessionId,
          state: String(snapshot.value),
          seq: snapshot.context.seq,
          subscribers: snapshot.context.subscribers.length,
        };
      });
    },

    recoverInterruptedRuns() {
      let recovered = 0;
      for (const run of log.unfinishedRuns()) {
        const seq = log.latestSeq(run.sessionId) + 1;
        const frame = sequenceMessage(
          { kind: 'complete', provider: run.provider, exitCode: 1, aborted: false, reason: 'gateway_restart' },
          run.sessionId,
          seq,
          run.runId,
        );
        const json = stampAndSerialize(frame);
        log.append({ sessionId: run.sessionId, seq, runId: run.runId, kind: 'complete', json, at: now() });
        log.runCompleted(run.runId, { exitCode: 1, aborted: false, completedAt: now() });
        recovered += 1;
      }
      if (recovered > 0) {
        log.flush();
        logger.warn('Completed runs interrupted by a previous shutdown', { runs: recovered });
      }
      return recovered;
    },

    async close() {
      closing = true;
      const running = [...liveSessions.values()].filter((actor) => sessionSnapshot(actor).value === 'running');
      for (const actor of running) actor.send({ type: 'client.abort', subscriberId: '' });
      const deadline = now() + SHUTDOWN_ABORT_GRACE_MS;
      while (running.some((actor) => sessionSnapshot(actor).value === 'running') && now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      for (const actor of running) {
        if (sessionSnapshot(actor).value === 'running') actor.send({ type: 'gateway.shutdown' });
      }
      log.flush();
      for (const ws of clients) {
        if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
          ws.close(1001, 'Server shutting down');
        }
      }
      for (const connection of connections.values()) fanout.release(connection);
    },
  };
}
