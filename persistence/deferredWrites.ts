/**
 * The event log's writes that are not events: run rows and session deletions. Each is tried at
 * once; while an earlier one waits for the database, it queues behind it so their order holds
 * (a run's completion never lands before its start; a deletion never removes a later run). The
 * queue is replayed first inside the next batch transaction, so a deletion also lands before
 * any event the re-used session id appended after it.
 *
 * Bounds: at most `MAX_QUEUED_RUN_WRITES` run writes (the oldest is dropped and counted beyond
 * it) and `MAX_QUEUED_FORGETS` deletions. A deletion is never dropped: a session forgotten in
 * memory restarts its seqs at 1, and its old rows left in place would collide with the new ones
 * and fail every batch. Past the bound `forget` refuses with `ForgetBacklogError` instead.
 */
import type { WriteHealth } from './writeHealth.js';

/** Run-table writes kept for retry while writes fail (runs are rare; this is hours of them). */
export const MAX_QUEUED_RUN_WRITES = 1000;
/** Session deletions kept for retry while writes fail; past it `forgetSession` refuses. */
export const MAX_QUEUED_FORGETS = 1000;

/** Thrown by `forgetSession` when `MAX_QUEUED_FORGETS` deletions already wait for the database. */
export class ForgetBacklogError extends Error {
  readonly code = 'FORGET_BACKLOG_FULL';
  constructor(readonly limit: number) {
    super(`${limit} session deletions already wait for the database to work again`);
    this.name = 'ForgetBacklogError';
  }
}

interface DeferredWrite {
  /** Set for a deletion: the session whose rows it removes. */
  forgets: string | null;
  write: () => void;
}

export class DeferredWrites {
  private readonly queue: DeferredWrite[] = [];
  private runWrites = 0;
  /** Sessions with a queued deletion: their rows in SQLite are as good as gone. */
  private readonly forgetting = new Set<string>();

  constructor(
    private readonly health: WriteHealth,
    /** Reports a failed immediate write (the writer turns degraded and releases held frames). */
    private readonly onFailure: (error: unknown) => void,
  ) {}

  get length(): number {
    return this.queue.length;
  }

  get queuedRunWrites(): number {
    return this.runWrites;
  }

  /** True while a deletion of the session waits: its stored rows must be treated as absent. */
  isForgetting(sessionId: string): boolean {
    return this.forgetting.has(sessionId);
  }

  run(write: () => void): void {
    if (this.queue.length > 0 && this.runWrites >= MAX_QUEUED_RUN_WRITES) this.dropOldestRunWrite();
    this.submit({ forgets: null, write });
  }

  /** Queues or runs a session deletion; throws `ForgetBacklogError`, changing nothing, past the bound. */
  forget(sessionId: string, write: () => void): void {
    if (this.queue.length - this.runWrites >= MAX_QUEUED_FORGETS) throw new ForgetBacklogError(MAX_QUEUED_FORGETS);
    this.submit({ forgets: sessionId, write });
  }

  /** Inside the batch transaction: every queued write, in order. */
  replay(): void {
    for (const entry of this.queue) entry.write();
  }

  /** The batch transaction that replayed the queue committed. */
  clear(): void {
    this.queue.length = 0;
    this.runWrites = 0;
    this.forgetting.clear();
  }

  private submit(entry: DeferredWrite): void {
    if (this.queue.length === 0) {
      try {
        entry.write();
        return;
      } catch (error) {
        this.enqueue(entry);
        this.onFailure(error);
        return;
      }
    }
    this.enqueue(entry);
  }

  private enqueue(entry: DeferredWrite): void {
    this.queue.push(entry);
    if (entry.forgets === null) this.runWrites++;
    else this.forgetting.add(entry.forgets);
  }

  private dropOldestRunWrite(): void {
    const index = this.queue.findIndex((entry) => entry.forgets === null);
    if (index < 0) return;
    this.queue.splice(index, 1);
    this.runWrites--;
    this.health.countDroppedRunWrite();
  }
}
