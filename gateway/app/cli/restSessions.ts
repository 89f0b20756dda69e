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

type MaybePromise<T> = T | Promise<T>;

/**
 * The durable chat log as these routes read it: persistence's ChatEventLog fits (synchronous,
 * one node), and so does a cluster backend (asynchronous: every method may return a promise).
 */
export interface SessionHistory {
  /** Events with `seq > afterSeq`, ascending, at most `limit`; `json` is the frame text. */
  read(sessionId: string, afterSeq: number, limit: number): MaybePromise<ReadonlyArray<{ seq: number; json: string }>>;
  latestSeq(sessionId: string): MaybePromise<number>;
  oldestSeq(sessionId: string): MaybePromise<number>;
  /**
   * Calls back once what was read is on disk: history is durable before visible, like `/ws`
   * frames. Absent where whatever is read is durable already (a cluster backend's log).
   */
  whenWritten?(callback: () => void): void;
}

/**
 * What the session routes read and change. Every method may return a promise (a cluster
 * backend); when all of them answer synchronously (SQLite, one node), DELETE checks "not running"
 * and deletes in one turn, so no run can start in between. With a cluster backend a run may start
 * on another node between the check and the delete; its session is then gone under it (its next
 * append finds no session record: the run fails like any run whose session was deleted).
 */
export interface SessionRoutesDeps {
  listSessions(options: { limit: number; before: string | null }): MaybePromise<StoredSessionPage>;
  /** False when there was no such session. */
  deleteSession(sessionId: string): MaybePromise<boolean>;
  /** Whether the session's store record exists (404 otherwise). */
  hasSession(sessionId: string): MaybePromise<boolean>;
  /** A run of the session is running now, on any node (listed as `running`; DELETE answers 409). */
  isRunning(sessionId: string): MaybePromise<boolean>;
  history: SessionHistory;
  /**
   * Before the store record goes: close the live actor and drop the log (events, runs, seq mark).
   * False when the session machine refused because a run is running. May throw (or reject).
   */
  forgetSession?(sessionId: string): MaybePromise<boolean>;
}

/**
 * Whether an answer must be awaited. A plain value is used as it is (`isPromise(x) ? await x : x`)
 * so a synchronous store's answers stay in one turn: even `await` of a plain value would let
 * queued work (a run starting) run between DELETE's check and its delete.
 */
function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
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

export async function listSessions(deps: SessionRoutesDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const query = queryOf(req);
  const limit = Math.min(queryInteger(query, 'limit', SESSION_PAGE_DEFAULT, 1), SESSION_PAGE_MAX);
  const befores = query.getAll('before');
  if (befores.length > 1) throw new HttpError(400, 'before is given more than once');
  const before = befores.length === 0 || befores[0] === '' ? null : befores[0];
  if (before !== null && before.length > MAX_CURSOR_LENGTH) throw new HttpError(400, 'before is not a cursor this server made');
  let page: StoredSessionPage;
  try {
    page = await deps.listSessions({ limit, before });
  } catch (error) {
    // The store refuses a cursor it cannot read; anything else is the store's failure (500).
    if (error instanceof SessionCursorError) throw new HttpError(400, 'before is not a cursor this server made');
    throw error;
  }
  // At most SESSION_PAGE_MAX sessions, each asked in parallel (one round trip with a backend).
  const sessions = await Promise.all(
    page.sessions.map(async (session) => ({
      sessionId: session.sessionId,
      provider: session.provider,
      projectPath: session.projectPath,
      createdAt: toIso(session.createdAt),
      updatedAt: toIso(session.updatedAt),
      running: await deps.isRunning(session.sessionId),
      latestSeq: await deps.history.latestSeq(session.sessionId),
    })),
  );
  sendJson(req, res, 200, { sessions, nextBefore: page.nextBefore });
}

export async function deleteSession(deps: SessionRoutesDeps, sessionId: string, res: ServerResponse): Promise<void> {
  // With synchronous deps, one turn from the check to the delete: a chat.send cannot start a run
  // in between (plain values are not awaited, see isPromise).
  const exists = deps.hasSession(sessionId);
  if (!(isPromise(exists) ? await exists : exists)) throw new HttpError(404, 'Session not found');
  const running = deps.isRunning(sessionId);
  if (isPromise(running) ? await running : running) {
    throw new HttpError(409, 'The session has a run in progress; abort it first (chat.abort)', 'RUN_IN_PROGRESS');
  }
  // The actor and the log first: if forgetting fails (the log refuses while the database is down)
  // the record stays, the answer is 500, and the DELETE can be retried. The other way round a
  // failure would leave a log no route could reach again.
  if (deps.forgetSession) {
    const forgotten = deps.forgetSession(sessionId);
    if (!(isPromise(forgotten) ? await forgotten : forgotten)) {
      throw new HttpError(409, 'The session has a run in progress; abort it first (chat.abort)', 'RUN_IN_PROGRESS');
    }
  }
  const deleted = deps.deleteSession(sessionId);
  if (isPromise(deleted)) await deleted;
  sendNoContent(res);
}

export async function sessionHistory(deps: SessionRoutesDeps, sessionId: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const query = queryOf(req);
  const afterSeq = queryInteger(query, 'afterSeq', 0, 0);
  const limit = Math.min(queryInteger(query, 'limit', HISTORY_PAGE_DEFAULT, 1), HISTORY_PAGE_MAX);
  if (!(await deps.hasSession(sessionId))) throw new HttpError(404, 'Session not found');
  // One more than asked says whether there is more without a second query.
  const read = deps.history.read(sessionId, afterSeq, limit + 1);
  const events = isPromise(read) ? await read : read;
  let count = 0;
  for (let bytes = 0; count < Math.min(limit, events.length); count++) {
    bytes += Buffer.byteLength(events[count].json);
    if (count > 0 && bytes > HISTORY_PAGE_MAX_BYTES) break;
  }
  const hasMore = events.length > count;
  const page = events.slice(0, count);
  // After the read: the bounds are at least as new as the events (latestSeq >= every seq sent).
  // A synchronous log answers in the read's turn, as one consistent view.
  const oldest = deps.history.oldestSeq(sessionId);
  const latest = deps.history.latestSeq(sessionId);
  const [oldestSeq, latestSeq] = isPromise(oldest) || isPromise(latest) ? await Promise.all([oldest, latest]) : [oldest, latest];
  // The frames are stored as the text sockets were sent: spliced in as they are, not re-encoded.
  const text = `{"messages":[${page.map((event) => event.json).join(',')}],"hasMore":${hasMore},"oldestSeq":${oldestSeq},"latestSeq":${latestSeq}}`;
  const { whenWritten } = deps.history;
  if (whenWritten) await new Promise<void>((resolve) => whenWritten.call(deps.history, resolve));
  sendText(req, res, 200, text);
}
