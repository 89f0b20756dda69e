/**
 * Chat message shapes shared by the chat machines. A message is a provider's normalized
 * message (`kind` plus anything); a frame is a message after its session sequenced it.
 */
export interface ChatMessage {
  kind: string;
  [key: string]: unknown;
}

/** A sequenced provider event as clients receive it (the gateway adds `timestamp`/`id` when absent). */
export interface SequencedFrame extends ChatMessage {
  sessionId: string;
  seq: number;
  runId: string;
}

/** A pending tool approval, as the session learned it from its runs' `permission_request` events. */
export interface PendingPermission {
  requestId: string;
  runId: string;
  toolName: unknown;
  input: unknown;
}

/**
 * The `lastSeq` a client sent, normalised as the protocol says: numbers to `max(0, floor(n))`,
 * anything else (strings, NaN, Infinity, null) to 0.
 */
export function normalizeLastSeq(raw: unknown): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw)) return 0;
  return Math.max(0, Math.floor(raw));
}

/** Builds the sequenced frame for a message: app session id, next seq, run id; `complete` normalised. */
export function sequenceMessage(message: ChatMessage, sessionId: string, seq: number, runId: string): SequencedFrame {
  if (message.kind !== 'complete') return { ...message, sessionId, seq, runId };
  const exitCode = typeof message.exitCode === 'number' ? message.exitCode : 0;
  const aborted = message.aborted === true;
  return {
    ...message,
    sessionId,
    actualSessionId: sessionId,
    exitCode,
    aborted,
    success: exitCode === 0 && !aborted,
    seq,
    runId,
  };
}
