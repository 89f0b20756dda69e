import { randomUUID } from 'node:crypto';

import { mergePendingPermissions, type PendingPermission, type SequencedFrame } from '../../machines/chatMessage.js';
import type { ChatEventLog } from '../../persistence/types.js';
import type { Logger } from '../logger.js';
import type { ProviderRuntime } from '../types.js';

/**
 * The `/ws` frames the gateway itself writes: the stamp and serialization of a sequenced frame
 * (once, for the log and every subscriber), the `chat_subscribed` ack, and timestamps.
 */

export interface SubscribedFields {
  isProcessing: boolean;
  lastSeq: number;
  runId: string | null;
  gap: boolean;
  pending: readonly PendingPermission[];
}

export interface ChatFrames {
  /** The current time as ISO 8601. */
  iso(): string;
  /** Stamps `timestamp`/`id` where absent and serializes a frame once for every subscriber. */
  serialize(frame: SequencedFrame): string;
  /** The `chat_subscribed` frame (also the notice a lagging socket gets after a gap). */
  ackFrame(sessionId: string, fields: SubscribedFields): Record<string, unknown>;
}

export interface ChatFramesOptions {
  log: ChatEventLog;
  runtime: ProviderRuntime;
  logger: Logger;
  now: () => number;
}

export function createChatFrames(options: ChatFramesOptions): ChatFrames {
  const { log, runtime, logger, now } = options;
  // One Date and one string per millisecond, not per frame: a token stream stamps many frames per ms.
  let isoAt = Number.NaN;
  let isoText = '';
  const iso = () => {
    const at = now();
    if (at !== isoAt) {
      isoAt = at;
      isoText = new Date(at).toISOString();
    }
    return isoText;
  };

  const pendingFor = (sessionId: string, tracked: readonly PendingPermission[]): unknown[] => {
    let fromRuntime: unknown[] = [];
    try {
      const listed = runtime.getPendingApprovalsForSession(sessionId);
      if (Array.isArray(listed)) fromRuntime = listed;
    } catch (error) {
      logger.warn('getPendingApprovalsForSession failed', { sessionId, error: String(error) });
    }
    return mergePendingPermissions(fromRuntime, tracked, sessionId);
  };

  const ackFrame = (sessionId: string, fields: SubscribedFields) => ({
    kind: 'chat_subscribed',
    sessionId,
    isProcessing: fields.isProcessing,
    lastSeq: fields.lastSeq,
    pendingPermissions: pendingFor(sessionId, fields.pending),
    timestamp: iso(),
    runId: fields.runId,
    oldestSeq: log.oldestSeq(sessionId),
    gap: fields.gap,
  });

  const serialize = (frame: SequencedFrame): string => {
    if (typeof frame.timestamp !== 'string') frame.timestamp = iso();
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

  return { iso, serialize, ackFrame };
}
