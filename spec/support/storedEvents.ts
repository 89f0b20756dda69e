/**
 * What the chat log holds on disk, per event, for specs that check the SQLite file directly. The
 * log stores runs of consecutive events as one `chat_event_chunks` row (seqs `first_seq..last_seq`,
 * no hole; persistence/eventChunk.ts), so a spec cannot `SELECT seq FROM` a row-per-event table:
 * these expand the chunks back into seqs and events, as decodeChunk reads them.
 */
import type { Database } from 'better-sqlite3';

import { decodeChunk } from '../../persistence/eventChunk.js';
import type { LoggedEvent } from '../../persistence/types.js';

interface ChunkRow {
  sessionId: string;
  firstSeq: number;
  lastSeq: number;
  idx: string;
  json: string;
}

/** Every stored seq of `sessionId`, ascending. */
export function storedSeqs(sqlite: Database, sessionId: string): number[] {
  const ranges = sqlite
    .prepare('SELECT first_seq AS firstSeq, last_seq AS lastSeq FROM chat_event_chunks WHERE session_id = ? ORDER BY first_seq')
    .all(sessionId) as Array<{ firstSeq: number; lastSeq: number }>;
  const seqs: number[] = [];
  for (const { firstSeq, lastSeq } of ranges) for (let seq = firstSeq; seq <= lastSeq; seq++) seqs.push(seq);
  return seqs;
}

/** The stored events of `sessionId`, or of every session (by session id, then seq), decoded. */
export function storedEvents(sqlite: Database, sessionId?: string): LoggedEvent[] {
  const columns = 'SELECT session_id AS sessionId, first_seq AS firstSeq, last_seq AS lastSeq, idx, json FROM chat_event_chunks';
  const rows = (
    sessionId === undefined
      ? sqlite.prepare(`${columns} ORDER BY session_id, first_seq`).all()
      : sqlite.prepare(`${columns} WHERE session_id = ? ORDER BY first_seq`).all(sessionId)
  ) as ChunkRow[];
  return rows.flatMap((row) => decodeChunk(row.sessionId, row.firstSeq, row.lastSeq, row.idx, row.json));
}

/** How many events are stored for `sessionId`, or in all. */
export function storedEventCount(sqlite: Database, sessionId?: string): number {
  const sum =
    sessionId === undefined
      ? sqlite.prepare('SELECT coalesce(sum(count), 0) FROM chat_event_chunks').pluck().get()
      : sqlite.prepare('SELECT coalesce(sum(count), 0) FROM chat_event_chunks WHERE session_id = ?').pluck().get(sessionId);
  return sum as number;
}
