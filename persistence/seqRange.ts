/**
 * Reading the in-memory events of one session, kept oldest first in an array whose live entries
 * start at index `head` (the slots before it are evicted, awaiting compaction), seqs ascending:
 * the replay tail of the SQLite log (`replayTail.ts`) and the cluster log's mirror
 * (`redis/logMirror.ts`) both hold their events this way.
 */
import type { LoggedEvent } from './types.js';

/**
 * Appends the live entries with `seq >= from` to `out`, oldest first, until `out` holds `max`.
 * The first one is found by binary search.
 */
export function copyFromSeq(events: readonly LoggedEvent[], head: number, from: number, max: number, out: LoggedEvent[]): void {
  for (let i = lowerBound(events, head, from); i < events.length && out.length < max; i++) out.push(events[i]);
}

/** Index of the first live entry with `seq >= seq` (`events.length` when none). */
function lowerBound(events: readonly LoggedEvent[], head: number, seq: number): number {
  let lo = head;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
