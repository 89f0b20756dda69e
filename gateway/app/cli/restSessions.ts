/**
 * The session routes of the standalone server beyond creation (rest.ts routes to them):
 *   GET    /api/providers/sessions?limit=&before=             a page of stored sessions, newest updated first
 *   DELETE /api/providers/sessions/:id                        the session and its log; 409 while a run runs
 *   GET    /api/providers/sessions/:id/messages?afterSeq=&limit=   its durable history, in seq order
 * Times are ISO 8601 strings (as `session_upserted`'s `lastActivity`); seqs are the `/ws` seqs, so
 * a client that loaded history subscribes with `lastSeq` set to the last seq it got.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { DEFAULT_SESSION_PAGE, MAX_SESSION_PAGE, SessionCursorError } from '../../../persistence/sessionStore.js';
import { HttpError, queryInteger, queryOf, sendJson, sendNoContent, sendText } from './restHttp.js';

/** One stored session as the store lists it (epoch milliseconds). */
export interface StoredSessionSummary {
  sessionId: string;
  provider: string;
  projectPath: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface StoredSessionPage {
  sessions: StoredSessionSummary[];
  /** The cursor of the next (older) page, or null when this was the last. */
  nextBefore: string | null;
}

/**
 * The durable chat log as these routes read it (persistence's ChatEventLog fits). Synchronous:
 * DELETE checks "not running" and deletes in one turn, so no run can start in between.
 */
export interface SessionHistory {
  /** Events with `seq > afterSeq`, ascending, at most `limit`; `json` is the frame text. */
  read(sessionId: string, afterSeq: number, limit: number): ReadonlyArray<{ seq: number; json: string }>;
  latestSeq(sessionId: string): number;
  oldestSeq(sessionId: string): number;
  /** Calls back once what was read is on disk: history is durable before visible, like `/ws` frames. */
  whenWritten?(callback: () => void): void;
}

export interface SessionRoutesDeps {
  listSessions(options: { limit: number; before: string | null }): StoredSessionPage;
  /** False when there was no such session. */
  deleteSession(sessionId: string): boolean;
  /** Whether the session's store record exists (404 otherwise). */
  hasSession(sessionId: string): boolean;
  /** A run of the session is running now (listed as `running`; DELETE answers 409). */
  isRunning(sessionId: string): boolean;
  history: SessionHistory;
  /**
   * Before the store record goes: close the live actor and drop the log (events, runs, seq mark).
   * False when the session machine refused because a run is running. May throw.
   */
  forgetSession?(sessionId: string): boolean;
}

/** `GET …/sessions` without `limit` (the store's page size). */
export const SESSION_PAGE_DEFAULT = DEFAULT_SESSION_PAGE;
/** The most sessions one page holds (the store's bound): each also costs a log lookup for its `latestSeq`. */
export const SESSION_PAGE_MAX = MAX_SESSION_PAGE;
/** `GET …/messages` without `limit`: a screenful of a conversation and then some. */
export const HISTORY_PAGE_DEFAULT = 200;
/**
 * The most events one history page holds. A session keeps at most `maxEventsPerSession` events
 * and `maxBytesPerSession` bytes, so a page is bounded in bytes by that too.
 */
export const HISTORY_PAGE_MAX = 1000;
/**
 * The most frame bytes one history page holds (its first frame always, whatever its size): a
 * session may keep `maxBytesPerSession` (16 MiB) and a client that asks many times and does not
 * read would otherwise make each answer that large. Past it the page ends early with `hasMore`.
 */
export const HISTORY_PAGE_MAX_BYTES = 1024 * 1024;
/** A `before` cursor longer than this is not one the server made. */
export const MAX_CURSOR_LENGTH = 512;

const toIso = (epochMs: number): string => new Date(epochMs).toISOString();

export function listSessions(deps: SessionRoutesDeps, req: IncomingMessage, res: ServerResponse): void {
  const query = queryOf(req);
  const limit = Math.min(queryInteger(query, 'limit', SESSION_PAGE_DEFAULT, 1), SESSION_PAGE_MAX);
  const befores = query.getAll('before');
  if (befores.length > 1) throw new HttpError(400, 'before is given more than once');
  const before = befores.length === 0 || befores[0] === '' ? null : befores[0];
  if (before !== null && before.length > MAX_CURSOR_LENGTH) throw new HttpError(400, 'before is not a cursor this server made');
  let page: StoredSessionPage;
  try {
    page = deps.listSessions({ limit, before });
  } catch (error) {
    // The store refuses a cursor it cannot read; anything else is the store's failure (500).
    if (error instanceof SessionCursorError) throw new HttpError(400, 'before is not a cursor this server made');
    throw error;
  }
  sendJson(req, res, 200, {
    sessions: page.sessions.map((session) => ({
      sessionId: session.sessionId,
      provider: session.provider,
      projectPath: session.projectPath,
      createdAt: toIso(session.createdAt),
      updatedAt: toIso(session.updatedAt),
      running: deps.isRunning(session.sessionId),
      latestSeq: deps.history.latestSeq(session.sessionId),
    })),
    nextBefore: page.nextBefore,
  });
}

export function deleteSession(deps: SessionRoutesDeps, sessionId: string, res: ServerResponse): void {
  // One synchronous turn from the check to the delete: a chat.send cannot start a run in between.
  if (!deps.hasSession(sessionId)) throw new HttpError(404, 'Session not found');
  if (deps.isRunning(sessionId)) throw new HttpError(409, 'The session has a run in progress; abort it first (chat.abort)', 'RUN_IN_PROGRESS');
  // The actor and the log first: if forgetting fails (the log refuses while the database is down)
  // the record stays, the answer is 500, and the DELETE can be retried. The other way round a
  // failure would leave a log no route could reach again.
  if (deps.forgetSession && !deps.forgetSession(sessionId)) {
    throw new HttpError(409, 'The session has a run in progress; abort it first (chat.abort)', 'RUN_IN_PROGRESS');
  }
  deps.deleteSession(sessionId);
  sendNoContent(res);
}

export async function sessionHistory(deps: SessionRoutesDeps, sessionId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const query = queryOf(req);
  const afterSeq = queryInteger(query, 'afterSeq', 0, 0);
  const limit = Math.min(queryInteger(query, 'limit', HISTORY_PAGE_DEFAULT, 1), HISTORY_PAGE_MAX);
  if (!deps.hasSession(sessionId)) throw new HttpError(404, 'Session not found');
  // One more than asked says whether there is more without a second query.
  const events = deps.history.read(sessionId, afterSeq, limit + 1);
  let count = 0;
  for (let bytes = 0; count < Math.min(limit, events.length); count++) {
    bytes += Buffer.byteLength(events[count].json);
    if (count > 0 && bytes > HISTORY_PAGE_MAX_BYTES) break;
  }
  const hasMore = events.length > count;
  const page = events.slice(0, count);
  const oldestSeq = deps.history.oldestSeq(sessionId);
  const latestSeq = deps.history.latestSeq(sessionId);
  // The frames are stored as the text sockets were sent: spliced in as they are, not re-encoded.
  const text = `{"messages":[${page.map((event) => event.json).join(',')}],"hasMore":${hasMore},"oldestSeq":${oldestSeq},"latestSeq":${latestSeq}}`;
  const { whenWritten } = deps.history;
  if (whenWritten) await new Promise<void>((resolve) => whenWritten.call(deps.history, resolve));
  sendText(req, res, 200, text);
}
