/**
 * Keeps each session's rows in `chat_events` within its bounds (`maxEventsPerSession`,
 * `maxBytesPerSession` of UTF-8 JSON), and its seq high-water mark in `chat_seq_marks`.
 *
 * Pruning runs inside the batch transaction, from counters kept per session
 * (`SessionState.stored*`): they are read from SQLite once per session (`loadStats`), then
 * advanced from what each batch adds, so steady-state pruning reads only the rows it deletes.
 */
import type { Statement } from 'better-sqlite3';
import { and, count, eq, lt, max, min, sql } from 'drizzle-orm';

import type { GatewayDatabase } from './database.js';
import { chatEvents, chatSeqMarks } from './schema.js';
import type { SessionState } from './sessionState.js';

function boundedStatements(database: GatewayDatabase) {
  const { db, sqlite } = database;
  const p = (name: string) => sql.placeholder(name);
  return {
    selectStats: db
      .select({
        count: count(),
        bytes: sql<number>`coalesce(sum(length(cast(${chatEvents.json} as blob))), 0)`,
        oldest: min(chatEvents.seq),
        latest: max(chatEvents.seq),
      })
      .from(chatEvents)
      .where(eq(chatEvents.sessionId, p('sessionId')))
      .prepare(),
    selectMark: db
      .select({ latestSeq: chatSeqMarks.latestSeq })
      .from(chatSeqMarks)
      .where(eq(chatSeqMarks.sessionId, p('sessionId')))
      .prepare(),
    upsertMark: db
      .insert(chatSeqMarks)
      .values({ sessionId: p('sessionId'), latestSeq: p('latestSeq') })
      .onConflictDoUpdate({
        target: chatSeqMarks.sessionId,
        set: { latestSeq: sql`max(${chatSeqMarks.latestSeq}, excluded.latest_seq)` },
      })
      .prepare(),
    deleteBefore: db
      .delete(chatEvents)
      .where(and(eq(chatEvents.sessionId, p('sessionId')), lt(chatEvents.seq, p('before'))))
      .prepare(),
    deleteEvents: db.delete(chatEvents).where(eq(chatEvents.sessionId, p('sessionId'))).prepare(),
    deleteMark: db.delete(chatSeqMarks).where(eq(chatSeqMarks.sessionId, p('sessionId'))).prepare(),
    // drizzle has no streaming cursor; pruning must stop reading at the first row it keeps.
    /** Oldest rows first as `[seq, utf8 bytes]`, read only as far as pruning needs. */
    walkOldest: sqlite
      .prepare<[string]>('SELECT seq, length(CAST(json AS BLOB)) FROM chat_events WHERE session_id = ? ORDER BY seq')
      .raw(true) as Statement<[string], unknown>,
  };
}

export class SessionBounds {
  private readonly statements: ReturnType<typeof boundedStatements>;

  constructor(
    database: GatewayDatabase,
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {
    this.statements = boundedStatements(database);
  }

  /** Reads the session's stored counters and seq mark. Throws while the database is unreadable. */
  loadStats(state: SessionState): void {
    const stats = this.statements.selectStats.get({ sessionId: state.sessionId });
    const mark = this.statements.selectMark.get({ sessionId: state.sessionId });
    state.storedCount = stats?.count ?? 0;
    state.storedBytes = stats?.bytes ?? 0;
    state.storedOldestSeq = stats?.oldest ?? 0;
    state.storedLatestSeq = stats?.latest ?? 0;
    state.latestSeq = Math.max(state.latestSeq, state.storedLatestSeq, mark?.latestSeq ?? 0);
    state.statsLoaded = true;
  }

  /**
   * Inside the batch transaction, after the batch's rows are inserted: computes the session's rows
   * after this batch (`next*`), deletes what exceeds the bounds (never the newest row), and writes
   * the seq mark when accepted events are newer than every stored one (they were dropped).
   */
  pruneAndMark(state: SessionState): void {
    let rows = state.storedCount + state.batchCount;
    let bytes = state.storedBytes + state.batchBytes;
    let oldest = state.storedCount > 0 ? state.storedOldestSeq : state.batchFirstSeq;
    const latest = state.batchCount > 0 ? state.batchLastSeq : state.storedLatestSeq;
    if (rows > this.maxEvents || bytes > this.maxBytes) {
      let keepFrom = latest;
      for (const row of this.statements.walkOldest.iterate(state.sessionId)) {
        const [seq, size] = row as [number, number];
        if (rows > 1 && (rows > this.maxEvents || bytes > this.maxBytes)) {
          rows--;
          bytes -= size;
          continue;
        }
        keepFrom = seq;
        break;
      }
      this.statements.deleteBefore.run({ sessionId: state.sessionId, before: keepFrom });
      oldest = keepFrom;
    }
    if (state.latestSeq > latest) this.statements.upsertMark.run({ sessionId: state.sessionId, latestSeq: state.latestSeq });
    state.nextCount = rows;
    state.nextBytes = bytes;
    state.nextOldestSeq = rows > 0 ? oldest : 0;
    state.nextLatestSeq = latest;
  }

  /** Deletes every event row and the seq mark of a session (it is being forgotten). */
  deleteSession(sessionId: string): void {
    this.statements.deleteEvents.run({ sessionId });
    this.statements.deleteMark.run({ sessionId });
  }
}
