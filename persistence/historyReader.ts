/**
 * Reads a session's events in seq order across its two homes: SQLite for the older ones, the
 * in-memory replay tail for the newest (including every unwritten event). A read asks SQLite
 * only for seqs below the tail's first, then continues in the tail, so there is no gap and no
 * duplicate at the boundary, for any cursor and limit (history paging, replay, catch-up).
 */
import { and, asc, eq, gte, lt, sql } from 'drizzle-orm';

import type { GatewayDatabase } from './database.js';
import { chatEvents } from './schema.js';
import type { SessionBounds } from './sessionBounds.js';
import type { SessionState } from './sessionState.js';
import type { LoggedEvent } from './types.js';

function rangeStatement(database: GatewayDatabase) {
  const p = (name: string) => sql.placeholder(name);
  return database.db
    .select()
    .from(chatEvents)
    .where(and(eq(chatEvents.sessionId, p('sessionId')), gte(chatEvents.seq, p('from')), lt(chatEvents.seq, p('before'))))
    .orderBy(asc(chatEvents.seq))
    .limit(p('limit'))
    .prepare();
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
      if (state.storedCount > 0 && from <= state.storedLatestSeq) {
        const rows = this.selectRange.all({ sessionId: state.sessionId, from, before: tailFirst, limit: max });
        for (const row of rows) out.push(row);
      }
    }
    if (out.length < max && state.tail.length > 0) state.tail.copyFrom(from, max, out);
    return out;
  }
}
