/**
 * The standalone gateway's `SessionStore` on the `sessions` table. Hosts that embed the gateway
 * usually pass their own store instead; this one also creates and lists sessions for the CLI's
 * REST routes. Every method is synchronous (better-sqlite3 is).
 */
import { randomUUID } from 'node:crypto';

import { count, desc, eq } from 'drizzle-orm';

import type { GatewayDatabase } from './database.js';
import { chatEvents, sessions } from './schema.js';
import type { SessionDescription, SessionRecord, SessionStore } from './types.js';

/** `listSessions()` without a limit returns at most this many (newest activity first). */
export const DEFAULT_SESSION_LIST_LIMIT = 1000;

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
  /** Sessions by most recent activity first. */
  listSessions(options?: { limit?: number }): SessionRecord[];
}

export interface SqliteSessionStoreOptions {
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
}

type SessionRow = typeof sessions.$inferSelect;

function toRecord(row: SessionRow): SessionRecord {
  return {
    sessionId: row.sessionId,
    provider: row.provider,
    providerSessionId: row.providerSessionId,
    projectPath: row.projectPath,
  };
}

export function createSqliteSessionStore(
  database: GatewayDatabase,
  options: SqliteSessionStoreOptions = {},
): SqliteSessionStore {
  const { db } = database;
  const now = options.now ?? Date.now;

  const findRow = (sessionId: string): SessionRow | null =>
    db.select().from(sessions).where(eq(sessions.sessionId, sessionId)).get() ?? null;

  // Count and insert in one IMMEDIATE transaction: no other writer, in this process or another one
  // on the same file, can insert in between, so the cap is exact.
  const insertUnderCap = database.sqlite.transaction((row: SessionRow, maxSessions: number) => {
    const stored = db.select({ n: count() }).from(sessions).get()?.n ?? 0;
    if (stored >= maxSessions) throw new SessionLimitError(maxSessions);
    db.insert(sessions).values(row).run();
  });

  return {
    getSession(sessionId) {
      const row = findRow(sessionId);
      return row ? toRecord(row) : null;
    },

    assignProviderSessionId(sessionId, providerSessionId) {
      db.update(sessions)
        .set({ providerSessionId, updatedAt: now() })
        .where(eq(sessions.sessionId, sessionId))
        .run();
    },

    describeSession(sessionId) {
      const row = findRow(sessionId);
      if (!row) return null;
      const counted = db
        .select({ n: count() })
        .from(chatEvents)
        .where(eq(chatEvents.sessionId, sessionId))
        .get();
      return {
        session: {
          id: row.sessionId,
          summary: row.summary,
          messageCount: counted?.n ?? 0,
          lastActivity: new Date(row.updatedAt).toISOString(),
        },
        project: row.projectPath === null ? null : { path: row.projectPath },
      };
    },

    createSession(input, createOptions = {}) {
      const at = now();
      const row: SessionRow = {
        sessionId: input.sessionId ?? randomUUID(),
        provider: input.provider,
        providerSessionId: null,
        projectPath: input.projectPath ?? null,
        summary: input.summary ?? null,
        createdAt: at,
        updatedAt: at,
      };
      const { maxSessions } = createOptions;
      if (maxSessions === undefined) {
        db.insert(sessions).values(row).run();
        return toRecord(row);
      }
      insertUnderCap.immediate(row, maxSessions);
      return toRecord(row);
    },

    listSessions(listOptions = {}) {
      const limit = listOptions.limit ?? DEFAULT_SESSION_LIST_LIMIT;
      return db
        .select()
        .from(sessions)
        .orderBy(desc(sessions.updatedAt), sessions.sessionId)
        .limit(limit)
        .all()
        .map(toRecord);
    },
  };
}
