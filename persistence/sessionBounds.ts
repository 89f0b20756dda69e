/**
 * Writes each session's chunks (`eventChunk.ts`) and keeps its events in `chat_event_chunks`
 * within its bounds (`maxEventsPerSession`, `maxBytesPerSession` of UTF-8 JSON), and its seq
 * high-water mark in `chat_seq_marks`.
 *
 * Pruning runs inside the batch transaction, from counters kept per session
 * (`SessionState.stored*`): they are read from SQLite once per session (`loadStats`), then
 * advanced from what each batch adds, so steady-state pruning reads only the chunks it deletes.
 * It is exact, as if events were rows: whole chunks go while the bounds are still exceeded without
 * them, and the chunk that straddles the bound is rewritten without its oldest events, in pieces of
 * as many events as that trim dropped (`trimChunk`).
 */
import type { Statement } from 'better-sqlite3';
import { eq, sql } from 'drizzle-orm';

import type { GatewayDatabase } from './database.js';
import { decodeChunk, encodeChunk, type EncodedChunk } from './eventChunk.js';
import { chatEventChunks, chatSeqMarks } from './schema.js';
import type { SessionState } from './sessionState.js';

function boundedStatements(database: GatewayDatabase) {
  const { db, sqlite } = database;
  const p = (name: string) => sql.placeholder(name);
  return {
    selectStats: db
      .select({
        count: sql<number>`coalesce(sum(${chatEventChunks.count}), 0)`,
        bytes: sql<number>`coalesce(sum(${chatEventChunks.bytes}), 0)`,
        oldest: sql<number | null>`min(${chatEventChunks.firstSeq})`,
        latest: sql<number | null>`max(${chatEventChunks.lastSeq})`,
      })
      .from(chatEventChunks)
      .where(eq(chatEventChunks.sessionId, p('sessionId')))
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
    deleteEvents: db.delete(chatEventChunks).where(eq(chatEventChunks.sessionId, p('sessionId'))).prepare(),
    deleteMark: db.delete(chatSeqMarks).where(eq(chatSeqMarks.sessionId, p('sessionId'))).prepare(),
    // The statements run per batch are bound positionally on the raw connection: drizzle's
    // prepared `run` allocates and type-checks a parameter array per call.
    insertChunk: sqlite.prepare<[string, number, number, number, number, string, string]>(
      'INSERT INTO chat_event_chunks (session_id, first_seq, last_seq, count, bytes, idx, json) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    // drizzle has no streaming cursor; pruning must stop reading at the first chunk it keeps.
    /** Oldest chunks first as `[first_seq, last_seq, count, bytes]`, read only as far as pruning needs. */
    walkOldest: sqlite
      .prepare<[string]>('SELECT first_seq, last_seq, count, bytes FROM chat_event_chunks WHERE session_id = ? ORDER BY first_seq')
      .raw(true) as Statement<[string], unknown>,
    selectChunk: sqlite
      .prepare<[string, number]>('SELECT last_seq, idx, json FROM chat_event_chunks WHERE session_id = ? AND first_seq = ?')
      .raw(true) as Statement<[string, number], unknown>,
    deleteChunk: sqlite.prepare<[string, number]>('DELETE FROM chat_event_chunks WHERE session_id = ? AND first_seq = ?'),
    deleteBefore: sqlite.prepare<[string, number]>('DELETE FROM chat_event_chunks WHERE session_id = ? AND first_seq < ?'),
    selectOldest: sqlite
      .prepare<[string]>('SELECT min(first_seq) FROM chat_event_chunks WHERE session_id = ?')
      .pluck(true) as Statement<[string], number | null>,
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

  /** Inside the batch transaction: stores one chunk of the session's batch and counts it. */
  insertChunk(state: SessionState, chunk: EncodedChunk): void {
    this.storeChunk(state.sessionId, chunk);
    state.addToBatch(chunk.firstSeq, chunk.lastSeq, chunk.count, chunk.bytes);
  }

  /** The one row write of a chunk: a batch's (counted by the caller) or a trimmed chunk's rest. */
  private storeChunk(sessionId: string, chunk: EncodedChunk): void {
    this.statements.insertChunk.run(sessionId, chunk.firstSeq, chunk.lastSeq, chunk.count, chunk.bytes, chunk.index, chunk.json);
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
   * Inside the batch transaction, after the batch's chunks are inserted: computes the session's
   * events after this batch (`next*`), deletes what exceeds the bounds (never the newest event), and
   * writes the seq mark when accepted events are newer than every stored one (they were dropped).
   */
  pruneAndMark(state: SessionState): void {
    let rows = state.storedCount + state.batchCount;
    let bytes = state.storedBytes + state.batchBytes;
    let oldest = state.storedCount > 0 ? state.storedOldestSeq : state.batchFirstSeq;
    const latest = state.batchCount > 0 ? state.batchLastSeq : state.storedLatestSeq;
    const over = () => rows > 1 && (rows > this.maxEvents || bytes > this.maxBytes);
    if (over()) {
      const { sessionId } = state;
      let keepFrom = latest;
      let straddling = false;
      for (const row of this.statements.walkOldest.iterate(sessionId)) {
        const [first, , count, size] = row as [number, number, number, number];
        keepFrom = first;
        if (!over()) break;
        // The whole chunk goes when the bounds are still exceeded without it (or its event count
        // exactly met): then its newest event would go too, event by event.
        const restRows = rows - count;
        const restBytes = bytes - size;
        if (restRows >= 1 && (restRows >= this.maxEvents || restBytes > this.maxBytes)) {
          rows = restRows;
          bytes = restBytes;
          continue;
        }
        straddling = true;
        break;
      }
      // The walk's cursor is closed (break) before the table is written.
      this.statements.deleteBefore.run(sessionId, keepFrom);
      oldest = keepFrom;
      if (straddling) oldest = this.trimChunk(state, keepFrom, over, (size) => {
        rows--;
        bytes -= size;
      });
    }
    if (state.latestSeq > latest) this.statements.upsertMark.run({ sessionId: state.sessionId, latestSeq: state.latestSeq });
    state.nextCount = rows;
    state.nextBytes = bytes;
    state.nextOldestSeq = rows > 0 ? oldest : 0;
    state.nextLatestSeq = latest;
  }

  /** Rewrites the chunk at `firstSeq` without its oldest events while `over()`; returns the session's oldest seq after. */
  private trimChunk(state: SessionState, firstSeq: number, over: () => boolean, drop: (size: number) => void): number {
    const { sessionId } = state;
    const [lastSeq, index, json] = this.statements.selectChunk.get(sessionId, firstSeq) as [number, string, string];
    const events = decodeChunk(sessionId, firstSeq, lastSeq, index, json);
    const sizes = events.map((event) => Buffer.byteLength(event.json, 'utf8'));
    let dropped = 0;
    while (dropped < events.length && over()) drop(sizes[dropped++]);
    if (dropped === 0) return firstSeq;
    this.statements.deleteChunk.run(sessionId, firstSeq);
    if (dropped < events.length) {
      // The rest in pieces of `dropped` events, not one chunk: a session at its bound usually
      // goes on as it came (one event per turn after a burst wrote 128-event chunks), and each of
      // its next prunes then deletes a piece instead of rewriting the rest of a chunk of up to
      // CHUNK_MAX_BYTES once per event (and putting it in the WAL each time: CHANGELOG has the
      // figures). The same events are kept: only where the rows split changes.
      for (let from = dropped; from < events.length; from += dropped) {
        this.storeChunk(sessionId, encodeChunk(events, sizes, from, Math.min(from + dropped, events.length)));
      }
      return events[dropped].seq;
    }
    return this.statements.selectOldest.get(sessionId) ?? 0;
  }

  /** Deletes every event and the seq mark of a session (it is being forgotten). */
  deleteSession(sessionId: string): void {
    this.statements.deleteEvents.run({ sessionId });
    this.statements.deleteMark.run({ sessionId });
  }
}
