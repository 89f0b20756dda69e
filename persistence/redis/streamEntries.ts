/**
 * A session's stream entries as events: id `<seq>-0`, fields r (runId) k (kind) j (json) a (at).
 * Replies come as `unknown` (ioredis `call`); anything that is not an entry of ours is skipped
 * rather than trusted.
 */
import type { LoggedEvent } from '../types.js';

/** Reads the fields of `[id, [field, value, …]]` entries, ascending as Redis returned them. */
export function parseStreamEntries(sessionId: string, entries: unknown): LoggedEvent[] {
  if (!Array.isArray(entries)) return [];
  const events: LoggedEvent[] = [];
  for (const entry of entries as unknown[]) {
    if (!Array.isArray(entry) || entry.length < 2) continue;
    const [id, fields] = entry as [unknown, unknown];
    if (typeof id !== 'string' || !Array.isArray(fields)) continue;
    const seq = Number(id.slice(0, id.indexOf('-')));
    if (!Number.isSafeInteger(seq) || seq <= 0) continue;
    let runId: string | null = null;
    let kind: string | null = null;
    let json: string | null = null;
    let at = Number.NaN;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const value: unknown = fields[i + 1];
      if (typeof value !== 'string') continue;
      switch (fields[i]) {
        case 'r':
          runId = value;
          break;
        case 'k':
          kind = value;
          break;
        case 'j':
          json = value;
          break;
        case 'a':
          at = Number(value);
          break;
      }
    }
    if (runId === null || kind === null || json === null || !Number.isFinite(at)) continue;
    events.push({ sessionId, seq, runId, kind, json, at });
  }
  return events;
}

/** The `XREAD` id after which a session is read: its mirror's latest seq. */
export function streamIdAfter(seq: number): string {
  return `${seq}-0`;
}
