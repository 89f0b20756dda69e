import type { RawData } from 'ws';

import { normalizeLastSeq, type PermissionDecision } from '../../machines/chatMessage.js';
import type { ProtocolErrorCode } from '../../machines/protocolErrors.js';

/**
 * The `/ws` codec: turns one inbound frame into a typed client command or a coded error.
 * Validation happens here, once; everything downstream trusts these types. What an answer
 * depends on (does the session exist, is a run in progress) is the chat session machine's.
 */

/** The limits a frame is validated against (`GatewayLimits` has them). */
export interface CodecLimits {
  /** Longer ids name no session: they never reach a session actor. */
  maxSessionIdLength: number;
  /** [ours] Longest `clientMessageId` of a `chat.send`. */
  maxClientMessageIdLength: number;
}

export interface SubscribeTarget {
  sessionId: string;
  lastSeq: number;
  /** [ours] `history: true` with `lastSeq` 0: replay every retained event of the session, earlier runs too. */
  history: boolean;
}

export type ChatCommand =
  | { type: 'chat.send'; sessionId: string; content: string; options: Record<string, unknown>; clientMessageId?: string }
  | { type: 'chat.abort'; sessionId: string }
  | { type: 'chat.subscribe'; sessions: SubscribeTarget[]; skipped: number }
  | { type: 'chat.unsubscribe'; sessionIds: string[] }
  | { type: 'chat.permission-response'; requestId: string; decision: PermissionDecision };

export type DecodeResult =
  | { ok: true; command: ChatCommand }
  | { ok: false; code: ProtocolErrorCode; detail: string; sessionId: string | null };

/** The longest `optionId` a permission response may name; longer ones are ignored. */
export const MAX_OPTION_ID_LENGTH = 256;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A trimmed session id, or '' when absent / not a string. */
function readSessionId(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

function decodeText(raw: RawData): string {
  if (Buffer.isBuffer(raw)) return raw.toString('utf8');
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.from(raw).toString('utf8');
}

/**
 * A command frame's session id: required, and no longer than any session's. An over-long id gets
 * the answer an unknown one would (`SESSION_NOT_FOUND` for a send, `NO_ACTIVE_RUN` for an abort)
 * without a session actor ever being made for it.
 */
function checkSessionId(sessionId: string, limits: CodecLimits, tooLong: ProtocolErrorCode): DecodeResult | null {
  if (!sessionId) return { ok: false, code: 'SESSION_ID_REQUIRED', detail: 'This frame requires a non-empty sessionId.', sessionId: null };
  if (sessionId.length <= limits.maxSessionIdLength) return null;
  return tooLong === 'SESSION_NOT_FOUND'
    ? { ok: false, code: tooLong, detail: 'Session id is too long.', sessionId: null }
    : { ok: false, code: tooLong, detail: 'The session has no active run.', sessionId };
}

export function decodeChatFrame(raw: RawData, isBinary: boolean, limits: CodecLimits): DecodeResult {
  if (isBinary) {
    return { ok: false, code: 'INVALID_PAYLOAD', detail: 'Binary frames are not part of the /ws protocol.', sessionId: null };
  }
  let data: unknown;
  try {
    data = JSON.parse(decodeText(raw));
  } catch {
    return { ok: false, code: 'INVALID_PAYLOAD', detail: 'Frame is not valid JSON.', sessionId: null };
  }
  if (!isRecord(data)) {
    return { ok: false, code: 'INVALID_PAYLOAD', detail: 'Frame must be a JSON object.', sessionId: null };
  }
  const type = typeof data.type === 'string' ? data.type : '';
  switch (type) {
    case 'chat.send': {
      const sessionId = readSessionId(data.sessionId);
      const refused = checkSessionId(sessionId, limits, 'SESSION_NOT_FOUND');
      if (refused) return refused;
      const options = isRecord(data.options) ? data.options : {};
      const command: ChatCommand = { type, sessionId, content: typeof data.content === 'string' ? data.content : '', options };
      // [ours] Absent or null: an ordinary send. Anything else must be a short non-empty string.
      if (data.clientMessageId !== undefined && data.clientMessageId !== null) {
        const id = data.clientMessageId;
        if (typeof id !== 'string' || id.length === 0 || id.length > limits.maxClientMessageIdLength) {
          const detail = `clientMessageId must be a non-empty string of at most ${limits.maxClientMessageIdLength} characters.`;
          return { ok: false, code: 'INVALID_PAYLOAD', detail, sessionId };
        }
        command.clientMessageId = id;
      }
      return { ok: true, command };
    }
    case 'chat.abort': {
      const sessionId = readSessionId(data.sessionId);
      return checkSessionId(sessionId, limits, 'NO_ACTIVE_RUN') ?? { ok: true, command: { type, sessionId } };
    }
    case 'chat.subscribe': {
      const entries = Array.isArray(data.sessions) ? data.sessions : [];
      const sessions: SubscribeTarget[] = [];
      const named = new Set<string>();
      let skipped = 0;
      for (const entry of entries) {
        const sessionId = isRecord(entry) ? readSessionId(entry.sessionId) : '';
        // Invalid entries are skipped silently, as in the baseline. So is a session named again in
        // the same frame: each entry costs an ack and a replay, so repeats would let a 1 MiB frame
        // make the gateway buffer megabytes for one socket.
        if (!sessionId || sessionId.length > limits.maxSessionIdLength || named.has(sessionId)) {
          skipped += 1;
          continue;
        }
        named.add(sessionId);
        const { lastSeq, history } = entry as Record<string, unknown>;
        sessions.push({ sessionId, lastSeq: normalizeLastSeq(lastSeq), history: history === true });
      }
      return { ok: true, command: { type, sessions, skipped } };
    }
    case 'chat.unsubscribe': {
      const entries = Array.isArray(data.sessions) ? data.sessions : [];
      const sessionIds = entries
        .map((entry) => (isRecord(entry) ? readSessionId(entry.sessionId) : readSessionId(entry)))
        .filter((id) => id.length > 0);
      return { ok: true, command: { type, sessionIds } };
    }
    case 'chat.permission-response': {
      const requestId = typeof data.requestId === 'string' ? data.requestId : '';
      const decision: PermissionDecision = { allow: data.allow === true };
      if ('updatedInput' in data) decision.updatedInput = data.updatedInput;
      if (typeof data.message === 'string') decision.message = data.message;
      if ('rememberEntry' in data) decision.rememberEntry = data.rememberEntry;
      // [ours] One of the options the request offered, by id (an agent's "allow always").
      if (typeof data.optionId === 'string' && data.optionId.length > 0 && data.optionId.length <= MAX_OPTION_ID_LENGTH) {
        decision.optionId = data.optionId;
      }
      return { ok: true, command: { type, requestId, decision } };
    }
    default:
      return {
        ok: false,
        code: 'UNKNOWN_MESSAGE_TYPE',
        detail: `Unknown message type "${type.slice(0, 64)}".`,
        sessionId: null,
      };
  }
}
