/**
 * The public surface of the default session store (`sessionStore.ts`): its types, errors and page
 * bounds, apart from its implementation so that the package's declarations name no drizzle or
 * SQLite type (an embedder type-checks against these without loading drizzle's).
 */
import type { SessionDescription, SessionPage, SessionPageRequest, SessionRecord, SessionStore } from './types.js';

export { SessionCursorError } from './sessionCursor.js';

/** Sessions per `listSessions` page when no limit is given. */
export const DEFAULT_SESSION_PAGE = 50;
/** The most sessions one page holds, whatever the limit asked: a page is one bounded response. */
export const MAX_SESSION_PAGE = 200;

/** The page size a `listSessions` limit asks for, the same in every store: a RangeError for one that is not a positive integer. */
export function sessionPageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_SESSION_PAGE;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`A session page limit must be a positive integer, got ${String(limit)}`);
  return Math.min(limit, MAX_SESSION_PAGE);
}

/** Thrown by `createSession` when `maxSessions` sessions are stored already; nothing was written. */
export class SessionLimitError extends Error {
  readonly code = 'MAX_STORED_SESSIONS';
  constructor(readonly limit: number) {
    super(`${limit} sessions are stored already`);
    this.name = 'SessionLimitError';
  }
}

export interface CreateSessionOptions {
  /** Refuse (SessionLimitError) when this many sessions are stored already. Default: no cap. */
  maxSessions?: number;
}

export interface CreateSessionInput {
  provider: string;
  projectPath?: string | null;
  /** Defaults to a random UUID. */
  sessionId?: string;
  summary?: string | null;
}

export interface SqliteSessionStore extends SessionStore {
  getSession(sessionId: string): SessionRecord | null;
  assignProviderSessionId(sessionId: string, providerSessionId: string): void;
  describeSession(sessionId: string): SessionDescription | null;
  /** Inserts a session; throws if the id is already taken, SessionLimitError if the store is full. */
  createSession(input: CreateSessionInput, options?: CreateSessionOptions): SessionRecord;
  /**
   * One page of sessions, newest activity first (ties by id, descending). `limit` defaults to
   * `DEFAULT_SESSION_PAGE` and is clamped to `MAX_SESSION_PAGE`; a limit that is not a positive
   * integer throws RangeError, a `before` this store did not make throws SessionCursorError (a
   * RangeError too).
   */
  listSessions(request?: SessionPageRequest): SessionPage;
  /**
   * Deletes the session's record; false when there was none. Its chat events and runs belong to
   * the event log: call its `forgetSession` too.
   */
  deleteSession(sessionId: string): boolean;
}

export interface SqliteSessionStoreOptions {
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
}

