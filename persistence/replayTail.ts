/**
 * The in-memory replay tail of one session: its newest events, oldest first, which replay and
 * catch-up read before going to SQLite. It always holds every unwritten event of the session
 * (the caller says how many of the newest entries those are), so a read never misses an event
 * that has not reached the disk.
 *
 * Evicting from the front only moves a head index; the array is compacted once enough slots are
 * dead, so eviction is amortised O(1) instead of an O(n) `shift` per event.
 */
import { copyFromSeq } from './seqRange.js';
import type { LoggedEvent } from './types.js';

/** Tail slots skipped before the array is compacted: compaction is amortised, not per eviction. */
const TAIL_COMPACT_MIN = 64;

export class ReplayTail {
  private events: LoggedEvent[] = [];
  private head = 0;

  get length(): number {
    return this.events.length - this.head;
  }

  /** Seq of the oldest entry, or 0 when empty (seqs start at 1). */
  firstSeq(): number {
    return this.head < this.events.length ? this.events[this.head].seq : 0;
  }

  push(event: LoggedEvent): void {
    this.events.push(event);
  }

  /** Evicts the oldest entries beyond `limit`, never one of the newest `keep` (the unwritten ones). */
  trim(limit: number, keep: number): void {
    const excess = this.length - Math.max(limit, keep);
    if (excess <= 0) return;
    this.head += excess;
    this.compact();
  }

  /** Evicts entries older than `seq` (they were pruned from the database). */
  dropBefore(seq: number): void {
    const { events } = this;
    let head = this.head;
    while (head < events.length && events[head].seq < seq) head++;
    this.head = head;
    this.compact();
  }

  /** Appends the entries with `seq >= from` to `out`, oldest first, until `out` holds `max`. */
  copyFrom(from: number, max: number, out: LoggedEvent[]): void {
    copyFromSeq(this.events, this.head, from, max, out);
  }

  private compact(): void {
    const { head } = this;
    if (head < TAIL_COMPACT_MIN || head * 2 < this.events.length) return;
    this.events.copyWithin(0, head);
    this.events.length -= head;
    this.head = 0;
  }
}
