/**
 * What PROTOCOL.md says the gateway answers to one fuzz frame, written independently of the
 * gateway's codec so the two can disagree. Answers are compared as short signatures:
 *   err:<code>:<sessionId|null>                              a /ws protocol_error
 *   ack:<sessionId>:<lastSeq>:<oldestSeq>:<gap>:<isProcessing>:<pending>   a chat_subscribed
 *   seq:<sessionId>:<n>                                       a replayed event
 *   invalid | err:<message>                                   /shell's error line / error frame
 * A frame that ends the connection (1007 invalid UTF-8 in a text frame, 1009 over the size
 * limit) is `terminal` with the close code the client must see.
 */
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { isUtf8 } from 'node:buffer';

import { DEFAULT_LIMITS } from '../../../gateway/config.js';
import { MAX_FRAME_BYTES, type WireFrame } from './fuzzFrames.js';

/** RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection with 1007. */
export const CLOSE_INVALID_UTF8 = 1007;
export const CLOSE_TOO_LARGE = 1009;

export interface Expectation {
  replies: string[];
  /** Signatures that may or may not appear (PTY limits depend on timing). */
  optional?: string[];
  terminal?: number;
  /** A permission decision the runtime must receive. */
  resolves?: { requestId: string; allow: boolean };
}

const byteLength = (frame: WireFrame) => (typeof frame.data === 'string' ? Buffer.byteLength(frame.data, 'utf8') : frame.data.length);

/** What the server's receiver sees as text: strings are UTF-8 encoded by the client (lone surrogates become U+FFFD). */
function serverText(frame: WireFrame): string {
  return typeof frame.data === 'string' ? Buffer.from(frame.data, 'utf8').toString('utf8') : frame.data.toString('utf8');
}

/** The transport-level outcome shared by every route, or null when the frame reaches the route. */
export function transportOutcome(frame: WireFrame): number | null {
  if (byteLength(frame) > MAX_FRAME_BYTES) return CLOSE_TOO_LARGE;
  if (!frame.binary && Buffer.isBuffer(frame.data) && !isUtf8(frame.data)) return CLOSE_INVALID_UTF8;
  return null;
}

function parseObject(textValue: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(textValue);
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

// ---- /ws ----

export interface ChatWorld {
  real: string;
  realRequestId: string;
  /** Events logged in the real session (all retained). */
  realLatest: number;
  realPending: boolean;
  maxSubscriptions: number;
  maxSessionIdLength: number;
}

/** The protocol's lastSeq rule: numbers to max(0, floor(n)), anything else to 0. */
const lastSeqOf = (raw: unknown): number => (typeof raw === 'number' && Number.isFinite(raw) ? Math.max(0, Math.floor(raw)) : 0);
const sessionIdOf = (raw: unknown): string => (typeof raw === 'string' ? raw.trim() : '');
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A socket's attached sessions, each with whether it was sent any of their sequenced frames. */
export type ChatSubscriptions = Map<string, boolean>;

/**
 * Expected answers to one /ws frame, given the socket's subscriptions (updated in place) and the
 * shared world (updated in place when a permission is resolved).
 */
export function expectChat(frame: WireFrame, world: ChatWorld, subscriptions: ChatSubscriptions): Expectation {
  const terminal = transportOutcome(frame);
  if (terminal !== null) return { replies: [], terminal };
  const err = (code: string, sessionId: string | null = null) => `err:${code}:${sessionId}`;
  if (frame.binary) return { replies: [err('INVALID_PAYLOAD')] };
  const data = parseObject(serverText(frame));
  if (!data) return { replies: [err('INVALID_PAYLOAD')] };
  switch (data.type) {
    case 'chat.send': {
      const sessionId = sessionIdOf(data.sessionId);
      if (!sessionId) return { replies: [err('SESSION_ID_REQUIRED')] };
      if (sessionId.length > world.maxSessionIdLength) return { replies: [err('SESSION_NOT_FOUND')] };
      if (sessionId === world.real) return { replies: [err('RUN_IN_PROGRESS', sessionId)] };
      return { replies: [err('SESSION_NOT_FOUND', sessionId)] };
    }
    case 'chat.abort': {
      const sessionId = sessionIdOf(data.sessionId);
      if (!sessionId) return { replies: [err('SESSION_ID_REQUIRED')] };
      return { replies: [err('NO_ACTIVE_RUN', sessionId)] };
    }
    case 'chat.subscribe': {
      const replies: string[] = [];
      const seen = new Set<string>();
      for (const entry of Array.isArray(data.sessions) ? data.sessions : []) {
        const sessionId = isPlainObject(entry) ? sessionIdOf(entry.sessionId) : '';
        if (!sessionId || sessionId.length > world.maxSessionIdLength) continue;
        // A session named twice in one frame is answered once.
        if (seen.has(sessionId)) continue;
        seen.add(sessionId);
        const lastSeq = lastSeqOf((entry as Record<string, unknown>).lastSeq);
        const sent = subscriptions.get(sessionId);
        if (sent === undefined && subscriptions.size >= world.maxSubscriptions) {
          replies.push(err('PAYLOAD_TOO_LARGE', sessionId));
          break;
        }
        subscriptions.set(sessionId, sent ?? false);
        if (sessionId === world.real) {
          const latest = world.realLatest;
          // Running: replay everything after min(lastSeq, latest) (its one run starts at seq 1); a
          // client ahead of the log is told gap. A socket that was sent frames of the session is
          // at the latest seq already and is never sent a seq twice.
          const replayAfter = sent ? latest : Math.min(lastSeq, latest);
          if (replayAfter < latest) subscriptions.set(sessionId, true);
          replies.push(`ack:${sessionId}:${latest}:1:${lastSeq > latest}:true:${world.realPending ? 1 : 0}`);
          for (let seq = replayAfter + 1; seq <= latest; seq++) replies.push(`seq:${sessionId}:${seq}`);
        } else {
          replies.push(`ack:${sessionId}:0:0:${lastSeq > 0}:false:0`);
        }
      }
      return { replies };
    }
    case 'chat.unsubscribe': {
      for (const entry of Array.isArray(data.sessions) ? data.sessions : []) {
        subscriptions.delete(isPlainObject(entry) ? sessionIdOf(entry.sessionId) : sessionIdOf(entry));
      }
      return { replies: [] };
    }
    case 'chat.permission-response': {
      const requestId = typeof data.requestId === 'string' ? data.requestId : '';
      if (requestId === world.realRequestId && world.realPending && subscriptions.has(world.real)) {
        world.realPending = false;
        return { replies: [], resolves: { requestId, allow: data.allow === true } };
      }
      return { replies: [err('UNKNOWN_PERMISSION_REQUEST')] };
    }
    default:
      return { replies: [err('UNKNOWN_MESSAGE_TYPE')] };
  }
}

/** The signature of a frame the gateway sent on /ws, or null for frames the oracle does not predict. */
export function chatSignature(frame: Record<string, unknown>): string {
  if (frame.kind === 'protocol_error') return `err:${String(frame.code)}:${frame.sessionId === null ? null : String(frame.sessionId)}`;
  if (frame.kind === 'chat_subscribed') {
    const pending = Array.isArray(frame.pendingPermissions) ? frame.pendingPermissions.length : -1;
    return `ack:${String(frame.sessionId)}:${String(frame.lastSeq)}:${String(frame.oldestSeq)}:${String(frame.gap)}:${String(frame.isProcessing)}:${pending}`;
  }
  if (typeof frame.seq === 'number') return `seq:${String(frame.sessionId)}:${frame.seq}`;
  return `other:${String(frame.kind)}`;
}

// ---- /shell ----

export const SHELL_INVALID_LINE = '\r\n\x1b[31mError: Invalid websocket payload\x1b[0m\r\n';
const SAFE_SESSION_ID = /^[a-zA-Z0-9_.\-:]+$/;

/** The protocol's path rule: an existing directory, after resolving symlinks and `..`, inside a root. */
export function isAllowedShellPath(requested: string, root: string): boolean {
  try {
    const resolved = realpathSync(path.resolve(requested));
    if (!statSync(resolved).isDirectory()) return false;
    const realRoot = realpathSync(root);
    return resolved === realRoot || resolved.startsWith(realRoot + path.sep);
  } catch {
    return false;
  }
}

/** The parsed frame as /shell reads it (binary frames are decoded as text too), or null. */
export function shellFrameObject(frame: WireFrame): Record<string, unknown> | null {
  return parseObject(serverText(frame));
}

export function expectShell(frame: WireFrame, root: string): Expectation {
  const terminal = transportOutcome(frame);
  if (terminal !== null) return { replies: [], terminal };
  const data = shellFrameObject(frame);
  if (!data || typeof data.type !== 'string') return { replies: ['invalid'] };
  if (data.type !== 'init') return { replies: [] };
  const requested = typeof data.projectPath === 'string' && data.projectPath !== '' ? data.projectPath : process.cwd();
  if (!isAllowedShellPath(requested, root)) return { replies: ['err:Invalid project path'] };
  const sessionId = typeof data.sessionId === 'string' ? data.sessionId : '';
  if (sessionId.length > DEFAULT_LIMITS.maxSessionIdLength) return { replies: ['err:Session ID too long'] };
  if (sessionId !== '' && !SAFE_SESSION_ID.test(sessionId)) return { replies: ['err:Invalid session ID'] };
  return { replies: [], optional: ['err:Too many terminals'] };
}

export function shellSignature(frame: Record<string, unknown>): string | null {
  if (frame.type === 'error') return `err:${String(frame.message)}`;
  if (frame.type === 'output' && frame.data === SHELL_INVALID_LINE) return 'invalid';
  return null;
}
