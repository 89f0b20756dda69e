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
  // Object.assign and plain stores, not `{ ...message, sessionId, … }`: on Node 20 (V8 11.3) a
  // spread followed by more keys leaves the frame in dictionary mode, ~3 µs per frame and a
  // slower JSON.stringify after it (bench/hotPath.ts). Same keys, same order, same values.
  const frame = Object.assign({}, message) as SequencedFrame;
  frame.sessionId = sessionId;
  if (message.kind === 'complete') {
    const exitCode = typeof message.exitCode === 'number' ? message.exitCode : 0;
    const aborted = message.aborted === true;
    frame.actualSessionId = sessionId;
    frame.exitCode = exitCode;
    frame.aborted = aborted;
    frame.success = exitCode === 0 && !aborted;
  }
  frame.seq = seq;
  frame.runId = runId;
  return frame;
}

/**
 * A tool-approval decision from `chat.permission-response`, as the runtime receives it
 * (`ProviderRuntime.resolveToolApproval`). `optionId` [ours] names one of the options the
 * request offered (an ACP agent's "allow always", say); runtimes without options ignore it.
 */
export interface PermissionDecision {
  allow: boolean;
  updatedInput?: unknown;
  message?: string;
  rememberEntry?: unknown;
  optionId?: string;
}

/**
 * What `pendingPermissions` lists: the runtime's own list (the baseline's source), plus every
 * request the session saw in its stream that the runtime did not list (a runtime that keys
 * approvals by a native id would list none of ours).
 */
export function mergePendingPermissions(
  fromRuntime: readonly unknown[],
  tracked: readonly PendingPermission[],
  sessionId: string,
): unknown[] {
  const listedIds = new Set(
    fromRuntime.map((entry) => (entry && typeof entry === 'object' ? (entry as { requestId?: unknown }).requestId : undefined)),
  );
  const missing = tracked
    .filter((pending) => !listedIds.has(pending.requestId))
    .map((pending) => ({ requestId: pending.requestId, toolName: pending.toolName, input: pending.input, sessionId }));
  return [...fromRuntime, ...missing];
}
