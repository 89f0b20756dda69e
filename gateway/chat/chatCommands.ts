import { randomUUID } from 'node:crypto';

import type { ChatEventLog, SessionRecord, SessionStore } from '../../persistence/types.js';
import type { GatewayLimits } from '../config.js';
import type { ProviderRuntime } from '../types.js';
import type { ChatConnection, ChatConnections } from './chatConnections.js';
import type { ClusterLink, RunLease } from './clusterLink.js';
import type { ChatCommand } from './codec.js';
import type { SessionActors } from './sessionActors.js';
import type { SessionEffects } from './sessionEffects.js';

/**
 * What each `/ws` command becomes: an event of the session it names, with the facts only I/O can
 * give (the session row, whether its provider has a runtime, the log's oldest seq). What the
 * event means for the client (a run, an error, a replay) is the session machine's decision; the
 * only answers given here are about resources (no actor could be had, a socket's subscription
 * bound) and an approval no session of this socket opened.
 */

export interface ChatCommandsOptions {
  actors: SessionActors;
  connections: ChatConnections;
  effects: SessionEffects;
  limits: GatewayLimits;
  log: ChatEventLog;
  runtime: ProviderRuntime;
  sessions: SessionStore;
  now: () => number;
  /** [cluster] The shared backend's part of each command (absent on a single node). */
  cluster?: ClusterLink;
}

export interface ChatCommands {
  handle(connection: ChatConnection, command: ChatCommand): Promise<void>;
  /** Takes a socket off a session: its cursor here, its subscription in the session. */
  leave(connection: ChatConnection, sessionId: string, type: 'client.unsubscribe' | 'client.dropped'): void;
}

export function createChatCommands(options: ChatCommandsOptions): ChatCommands {
  const { actors, connections, effects, limits, log, runtime, sessions, now, cluster } = options;
  const { sendError } = connections;

  const handleSend = async (connection: ChatConnection, command: Extract<ChatCommand, { type: 'chat.send' }>) => {
    const { sessionId } = command;
    // The lookups a machine cannot do; what they mean for the send is the session's to decide.
    let record: SessionRecord | null;
    try {
      record = await sessions.getSession(sessionId);
    } catch (error) {
      // [cluster] The store is the shared backend: its failure is the backend's, not this frame's.
      if (cluster) return sendError(connection.ws, 'BACKEND_UNAVAILABLE', sessionId);
      throw error;
    }
    // [cluster] The actor starts from the shared log's seq: it is mirrored here first.
    if (cluster && !(await cluster.mirror(sessionId))) return sendError(connection.ws, 'BACKEND_UNAVAILABLE', sessionId);
    // A socket that closed while the store answered joins nothing (a drop was already told to its sessions).
    if (!connections.has(connection.id)) return;
    const actor = actors.acquire(sessionId);
    if (!actor) return sendError(connection.ws, 'INTERNAL_ERROR', sessionId, actors.refusal());
    connection.joined.add(sessionId);
    const runId = randomUUID();
    const startedAt = now();
    const provider = record?.provider ?? '';
    // [cluster] One unfinished run per session cluster-wide: the lease is the fact the machine weighs.
    let runLease: RunLease | undefined;
    let target = actor;
    if (cluster && record !== null) {
      runLease = await cluster.leaseForSend(sessionId, actor, { runId, provider, startedAt });
      // An empty session's actor closes when a subscriber comes and goes meanwhile: its successor decides.
      const current = connections.has(connection.id) ? actors.acquire(sessionId) : null;
      if (!current) {
        cluster.settleSend(sessionId, actor, runId, runLease);
        if (connections.has(connection.id)) sendError(connection.ws, 'INTERNAL_ERROR', sessionId, actors.refusal());
        return;
      }
      target = current;
    }
    target.send({
      type: 'client.send',
      subscriberId: connection.id,
      sessionFound: record !== null,
      providerAvailable: record !== null && runtime.hasRuntime(record.provider),
      ...(runLease ? { runLease } : {}),
      runId,
      provider,
      content: command.content,
      // As sent: what reaches the runtime is decided when the run starts (runtimeActors.ts).
      options: command.options,
      projectPath: record?.projectPath ?? null,
      userId: connection.userId,
      providerSessionId: record?.providerSessionId ?? null,
      startedAt,
      ...(command.clientMessageId !== undefined ? { clientMessageId: command.clientMessageId } : {}),
    });
    if (cluster && runLease) cluster.settleSend(sessionId, target, runId, runLease);
  };

  const handleSubscribe = async (connection: ChatConnection, command: Extract<ChatCommand, { type: 'chat.subscribe' }>) => {
    for (const target of command.sessions) {
      // A resource bound of this socket, not a rule of the session.
      if (!connection.sessions.has(target.sessionId) && connection.sessions.size >= limits.maxSubscriptionsPerSocket) {
        const detail = `A socket may be subscribed to at most ${limits.maxSubscriptionsPerSocket} sessions.`;
        return sendError(connection.ws, 'PAYLOAD_TOO_LARGE', target.sessionId, detail);
      }
      // [cluster] The session's log is mirrored here first, and its actor told of a run elsewhere.
      if (cluster) {
        const prepared = await cluster.prepare(target.sessionId, { lastSeq: target.lastSeq, history: target.history === true }, () => actors.acquire(target.sessionId));
        if (!prepared) {
          sendError(connection.ws, 'BACKEND_UNAVAILABLE', target.sessionId);
          continue;
        }
      }
      // A socket that closed meanwhile subscribes to nothing (it would hold the session's actor).
      if (!connections.has(connection.id)) return;
      // Acquired now, in the turn it is told: one acquired before an await may have closed since.
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

  const handle = async (connection: ChatConnection, command: ChatCommand): Promise<void> => {
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

  return { handle, leave };
}
