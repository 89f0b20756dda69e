import type { PendingPermission, SequencedFrame } from '../../machines/chatMessage.js';
import type { ChatSessionEmitted } from '../../machines/chatSession.machine.js';
import type { ChatEventLog, SessionDescription, SessionStore } from '../../persistence/types.js';
import type { Logger } from '../logger.js';
import type { AttentionEvent, ChatDeps, ProviderRuntime } from '../types.js';
import type { ChatConnections } from './chatConnections.js';
import { createChatFrames, type SubscribedFields } from './chatFrames.js';
import type { Fanout } from './fanout.js';

/**
 * What the gateway does for each event a chat session emits: the I/O its decisions call for.
 * Nothing here decides protocol: a frame is stamped, logged and fanned out; an accepted
 * subscribe is acked and attached where the machine said; a run's start and end are recorded;
 * an approval reaches the runtime; a new provider id is stored and announced.
 */

export type { SubscribedFields } from './chatFrames.js';

export interface SessionEffects {
  handle(sessionId: string, event: ChatSessionEmitted): void;
  /** The `chat_subscribed` frame (also the notice a lagging socket gets after a gap). */
  ackFrame(sessionId: string, fields: SubscribedFields): Record<string, unknown>;
  /** The session each open approval belongs to: where a `chat.permission-response` is sent. */
  permissionOwners(requestId: string): ReadonlySet<string> | undefined;
  /** A session's actor closed: its approvals can no longer be answered there. */
  sessionClosed(sessionId: string, pending: readonly PendingPermission[]): void;
}

export interface SessionEffectsOptions {
  connections: ChatConnections;
  fanout: () => Fanout;
  log: ChatEventLog;
  runtime: ProviderRuntime;
  sessions: SessionStore;
  logger: Logger;
  now: () => number;
  onAttention?: ChatDeps['onAttention'];
}

/** What the host's `onAttention` is told about a frame nobody watched. */
function attentionOf(sessionId: string, event: Extract<ChatSessionEmitted, { type: 'attention' }>): AttentionEvent {
  const { frame } = event;
  const base = { type: event.kind, sessionId, runId: event.runId, seq: frame.seq, timestamp: String(frame.timestamp) };
  if (event.kind === 'permission_request') {
    return { ...base, requestId: typeof frame.requestId === 'string' ? frame.requestId : undefined, toolName: frame.toolName };
  }
  return { ...base, exitCode: frame.exitCode as number, success: frame.success === true, aborted: frame.aborted === true };
}

export function createSessionEffects(options: SessionEffectsOptions): SessionEffects {
  const { connections, log, runtime, sessions, logger, now } = options;
  const owners = new Map<string, Set<string>>();
  const closeOwner = (requestId: string, sessionId: string) => {
    const sessionIds = owners.get(requestId);
    if (sessionIds?.delete(sessionId) && sessionIds.size === 0) owners.delete(requestId);
  };
  const { iso, serialize, ackFrame } = createChatFrames({ log, runtime, logger, now });

  const onFrame = (sessionId: string, frame: SequencedFrame, subscribers: readonly string[], durable: boolean) => {
    const json = serialize(frame);
    // [cluster] Another node's frame is in the shared log (and this node's mirror) already.
    if (!durable) log.append({ sessionId, seq: frame.seq, runId: frame.runId, kind: frame.kind, json, at: now() });
    if (subscribers.length === 0) return;
    // Encoded to UTF-8 once for every subscriber: each socket is handed the same bytes, rather
    // than measuring and copying the string once per socket (bench: fanout, 10 and 100 subscribers).
    const payload = subscribers.length > 1 ? Buffer.from(json) : json;
    const fanout = options.fanout();
    for (const id of subscribers) {
      const connection = connections.get(id);
      if (connection) fanout.deliver(connection, sessionId, frame.seq, payload);
    }
  };

  const onSubscribed = (sessionId: string, event: Extract<ChatSessionEmitted, { type: 'subscribed' }>) => {
    const connection = connections.get(event.subscriberId);
    if (!connection) return;
    const fanout = options.fanout();
    // The ack's lastSeq may name an event of this turn: it leaves with the turn's write.
    fanout.hold(connection);
    const { isProcessing, lastSeq, runId, gap, pendingPermissions: pending } = event;
    connections.send(connection.ws, ackFrame(sessionId, { isProcessing, lastSeq, runId, gap, pending }));
    // Synchronous with the subscribe transition: no event can be sequenced between this read
    // of the log and the socket becoming live.
    fanout.attach(connection, sessionId, event.replayAfter ?? event.lastSeq);
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
      connections.broadcast({
        kind: 'session_upserted',
        sessionId,
        // The baseline sends it too: clients use it as an alias of the app id (claudecodeui's
        // sidebar matches rows by it and redirects a view opened on the provider's id).
        providerSessionId,
        provider: record?.provider ?? null,
        session: described?.session ?? { id: sessionId, summary: null, messageCount: 0, lastActivity: null },
        project: described ? described.project : record?.projectPath ? { path: record.projectPath } : null,
        timestamp: iso(),
      });
    } catch (error) {
      logger.error('Could not store the provider session id', { sessionId, error: String(error) });
    }
  };

  const handle = (sessionId: string, event: ChatSessionEmitted) => {
    switch (event.type) {
      case 'frames': {
        const durable = event.durable === true;
        for (const frame of event.frames) onFrame(sessionId, frame, event.subscribers, durable);
        return;
      }
      case 'reply': {
        const connection = connections.get(event.subscriberId);
        if (connection) connections.send(connection.ws, { ...event.frame, timestamp: iso() });
        return;
      }
      case 'subscribed':
        return onSubscribed(sessionId, event);
      case 'run.started':
        return log.runStarted({ runId: event.runId, sessionId, provider: event.provider, startedAt: event.startedAt });
      case 'run.ended':
        return log.runCompleted(event.runId, { exitCode: event.exitCode, aborted: event.aborted, completedAt: now() });
      case 'permission.opened': {
        const sessionIds = owners.get(event.requestId) ?? new Set<string>();
        owners.set(event.requestId, sessionIds.add(sessionId));
        return;
      }
      case 'permission.closed':
        return closeOwner(event.requestId, sessionId);
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
      case 'send.repeated': {
        const connection = connections.get(event.subscriberId);
        if (!connection) return;
        const fanout = options.fanout();
        fanout.hold(connection);
        fanout.attach(connection, sessionId, event.replayAfter ?? event.lastSeq);
        return;
      }
      case 'remote.abort':
      case 'remote.permission-response':
        // [cluster] The cluster link (clusterLink.ts) carries these to the run's node.
        return;
      case 'attention':
        if (!options.onAttention) return;
        try {
          options.onAttention(attentionOf(sessionId, event));
        } catch (error) {
          logger.error('onAttention failed', { sessionId, error: String(error) });
        }
        return;
    }
  };

  return {
    handle,
    ackFrame,
    permissionOwners: (requestId) => owners.get(requestId),
    sessionClosed(sessionId, pending) {
      for (const { requestId } of pending) closeOwner(requestId, sessionId);
    },
  };
}
