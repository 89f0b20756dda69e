/**
 * The standalone gateway's `SessionStore` on the `sessions` table. Hosts that embed the gateway
 * usually pass their own store instead; this one also creates, lists and deletes sessions for the
 * CLI's REST routes. Every method is synchronous (better-sqlite3 is).
 *
 * A session's `updatedAt` is its latest activity: set when it is created, moved forward when its
 * provider-native id is assigned, and when one of its runs starts or completes (the event log's
 * run writes do that, runsTable.ts). Listing pages walk the `sessions_activity` index.
 */
import { randomUUID } from 'node:crypto';

import { count, desc, eq, sql } from 'drizzle-orm';

import type { GatewayDatabase } from './database.js';
import { chatEventChunks, sessions } from './schema.js';
import { decodeSessionCursor, encodeSessionCursor } from './sessionCursor.js';
import type {
  ListedSession,
  SessionDescription,
  SessionPage,
  SessionPageRequest,
  SessionRecord,
  SessionStore,
} from './types.js';

// The store's public surface lives apart (sessionStoreApi.ts); importers of this module get it too.
export * from './sessionStoreApi.js';
import {
  SessionLimitError,
  sessionPageLimit,
  type CreateSessionInput,
  type CreateSessionOptions,
  type SqliteSessionStore,
  type SqliteSessionStoreOptions,
} from './sessionStoreApi.js';

type SessionRow = typeof sessions.$inferSelect;

function toRecord(row: SessionRow): SessionRecord {
  return {
    sessionId: row.sessionId,
    provider: row.provider,
    providerSessionId: row.providerSessionId,
    projectPath: row.projectPath,
  };
}

function toListed(row: SessionRow): ListedSession {
  return { ...toRecord(row), createdAt: row.createdAt, updatedAt: row.updatedAt };
}

function listingStatements(database: GatewayDatabase) {
  const { db } = database;
  const p = (name: string) => sql.placeholder(name);
  const newestFirst = [desc(sessions.updatedAt), desc(sessions.sessionId)];
  return {
    firstPage: db.select().from(sessions).orderBy(...newestFirst).limit(p('limit')).prepare(),
    // A row-value comparison: SQLite walks the (updated_at, session_id) index from the cursor.
    pageBefore: db
      .select()
      .from(sessions)
      .where(sql`(${sessions.updatedAt}, ${sessions.sessionId}) < (${p('updatedAt')}, ${p('sessionId')})`)
      .orderBy(...newestFirst)
      .limit(p('limit'))
      .prepare(),
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
  const listing = listingStatements(database);

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
      // Forward only: a run may have recorded later activity already.
      db.update(sessions)
        .set({ providerSessionId, updatedAt: sql`max(${sessions.updatedAt}, ${now()})` })
        .where(eq(sessions.sessionId, sessionId))
        .run();
    },

    describeSession(sessionId) {
      const row = findRow(sessionId);
      if (!row) return null;
      const counted = db
        .select({ n: sql<number>`coalesce(sum(${chatEventChunks.count}), 0)` })
        .from(chatEventChunks)
        .where(eq(chatEventChunks.sessionId, sessionId))
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

    listSessions(request = {}) {
      const limit = sessionPageLimit(request.limit);
      const before = request.before ?? null;
      // One more than the page says whether another page follows.
      const rows =
        before === null
          ? listing.firstPage.all({ limit: limit + 1 })
          : listing.pageBefore.all({ ...decodeSessionCursor(before), limit: limit + 1 });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        sessions: page.map(toListed),
        nextBefore: rows.length > limit ? encodeSessionCursor({ updatedAt: last.updatedAt, sessionId: last.sessionId }) : null,
      };
    },

    deleteSession(sessionId) {
      return db.delete(sessions).where(eq(sessions.sessionId, sessionId)).run().changes > 0;
    },
  };
}
