/**
 * Reads a session's events in seq order across its two homes: SQLite for the older ones, the
 * in-memory replay tail for the newest (including every unwritten event). A read asks SQLite
 * only for seqs below the tail's first, then continues in the tail, so there is no gap and no
 * duplicate at the boundary, for any cursor and limit (history paging, replay, catch-up).
 */
import type { Statement } from 'better-sqlite3';

import type { GatewayDatabase } from './database.js';
import { decodeChunk } from './eventChunk.js';
import type { SessionBounds } from './sessionBounds.js';
import type { SessionState } from './sessionState.js';
import type { LoggedEvent } from './types.js';

type ChunkRow = [firstSeq: number, lastSeq: number, index: string, json: string];

/**
 * The chunks holding seqs `from..before-1`, oldest first: from the chunk that contains `from` (the
 * newest starting at or before it, found on the primary key) to the last starting before `before`.
 */
function rangeStatement(database: GatewayDatabase) {
  return database.sqlite
    .prepare<{ sessionId: string; from: number; before: number }>(
      `SELECT first_seq, last_seq, idx, json FROM chat_event_chunks
       WHERE session_id = @sessionId
         AND first_seq >= coalesce((SELECT max(first_seq) FROM chat_event_chunks WHERE session_id = @sessionId AND first_seq <= @from), 0)
         AND first_seq < @before
       ORDER BY first_seq`,
    )
    .raw(true) as Statement<[{ sessionId: string; from: number; before: number }], ChunkRow>;
}

export class HistoryReader {
  private readonly selectRange: ReturnType<typeof rangeStatement>;

  constructor(
    database: GatewayDatabase,
    private readonly bounds: SessionBounds,
  ) {
    this.selectRange = rangeStatement(database);
  }

  /** Events with `seq > afterSeq`, ascending, at most `limit`. Throws while the database is unreadable rather than hide a gap. */
  read(state: SessionState, afterSeq: number, limit: number): LoggedEvent[] {
    const max = Math.floor(limit);
    if (!(max > 0)) return [];
    let oldest = state.oldestSeq();
    if (oldest === 0) {
      if (state.statsLoaded) return [];
      this.bounds.loadStats(state);
      oldest = state.oldestSeq();
      if (oldest === 0) return [];
    }
    const from = Math.max(Math.floor(afterSeq) + 1, oldest);
    const out: LoggedEvent[] = [];
    const tailFirst = state.tail.length > 0 ? state.tail.firstSeq() : Number.MAX_SAFE_INTEGER;
    if (from < tailFirst) {
      if (!state.statsLoaded) this.bounds.loadStats(state);
      if (state.storedCount > 0 && from <= state.storedLatestSeq) this.readStored(state.sessionId, from, tailFirst, max, out);
    }
    if (out.length < max && state.tail.length > 0) state.tail.copyFrom(from, max, out);
    return out;
  }

  private readStored(sessionId: string, from: number, before: number, max: number, out: LoggedEvent[]): void {
    // Collected first, decoded after: the cursor stays open only for the rows this read needs.
    const rows: ChunkRow[] = [];
    let events = 0;
    for (const row of this.selectRange.iterate({ sessionId, from, before })) {
      rows.push(row);
      events += Math.min(row[1], before - 1) - Math.max(row[0], from) + 1;
      if (events >= max) break;
    }
    for (const [firstSeq, lastSeq, index, json] of rows) {
      for (const event of decodeChunk(sessionId, firstSeq, lastSeq, index, json)) {
        if (event.seq < from || event.seq >= before) continue;
        out.push(event);
        if (out.length >= max) return;
      }
    }
  }
}
