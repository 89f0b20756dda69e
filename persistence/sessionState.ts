/**
 * What the event log knows about one session: its seq counter, its replay tail, how many of its
 * events are unwritten, and counters of its rows in SQLite so pruning never has to count them.
 *
 * `stored*` describe the session's rows as of the last successful write. `batch*` and `next*`
 * are scratch of the write in progress (`sessionBounds.ts` fills them inside the transaction);
 * they become `stored*` only once the transaction commits, and are discarded if it fails.
 */
import { ReplayTail } from './replayTail.js';
import type { LoggedEvent } from './types.js';

export class SessionState {
  /** Highest seq ever accepted, including pruned, dropped and unwritten events. */
  latestSeq = 0;
  /** False until the `stored*` counters and the seq mark have been read from SQLite. */
  statsLoaded = false;
  storedCount = 0;
  storedBytes = 0;
  storedOldestSeq = 0;
  storedLatestSeq = 0;
  /** Newest events; always includes every unwritten event of the session. */
  readonly tail = new ReplayTail();
  /** Unwritten events of the session: always the newest `pendingCount` entries of the tail. */
  pendingCount = 0;
  /** In the writer's list of sessions to write: has unwritten events (or its seq mark must be written). */
  queued = false;

  /** The session's events of the write in progress, in seq order (gathered from the writer's list). */
  readonly batchEvents: LoggedEvent[] = [];
  batchCount = 0;
  batchBytes = 0;
  batchFirstSeq = 0;
  batchLastSeq = 0;
  nextCount = 0;
  nextBytes = 0;
  nextOldestSeq = 0;
  nextLatestSeq = 0;

  constructor(readonly sessionId: string) {}

  /** Counts one chunk of the batch being written: events `firstSeq..lastSeq`, `bytes` of frames. */
  addToBatch(firstSeq: number, lastSeq: number, count: number, bytes: number): void {
    if (this.batchCount === 0) this.batchFirstSeq = firstSeq;
    this.batchCount += count;
    this.batchLastSeq = lastSeq;
    this.batchBytes += bytes;
  }

  resetBatch(): void {
    this.batchEvents.length = 0;
    this.batchCount = 0;
    this.batchBytes = 0;
    this.batchFirstSeq = 0;
    this.batchLastSeq = 0;
  }

  /** The write committed: its computed counters become the stored ones, and the tail follows pruning. */
  commitBatch(tailEvents: number): void {
    this.storedCount = this.nextCount;
    this.storedBytes = this.nextBytes;
    this.storedOldestSeq = this.nextOldestSeq;
    this.storedLatestSeq = this.nextLatestSeq;
    this.pendingCount = 0;
    this.queued = false;
    this.resetBatch();
    if (this.storedCount > 0) this.tail.dropBefore(this.storedOldestSeq);
    this.tail.trim(tailEvents, 0);
  }

  /** Lowest retained seq, 0 when none. */
  oldestSeq(): number {
    // Tail entries are either stored rows (never older than storedOldestSeq) or unwritten ones
    // (newer than every stored row), so the database holds the oldest whenever it holds any.
    if (this.storedCount > 0) return this.storedOldestSeq;
    return this.tail.firstSeq();
  }
}
