/**
 * The event log's batched writer. Appended events wait in one pending list (with their sessions
 * alongside) and are written in one transaction per event-loop turn, or at once when
 * `batchMaxEvents` are pending, so a token stream costs one commit per turn rather than one per
 * delta. The transaction replays the queued run writes and deletions first, stores each touched
 * session's events as chunks (`eventChunk.ts`: one row per session per write, not one per
 * event), then prunes each touched session to its bounds (`sessionBounds.ts`).
 *
 * A failing write never throws out of `enqueue`/`flush`: it reports `write.failed` to the
 * `WriteHealth` machine, keeps the events (at most `PENDING_LIMIT_BATCHES` batches; the oldest are
 * dropped and counted beyond it) and lets the machine's retry timer, an explicit `flush()` or
 * `close()` try again. While not healthy, appends do not flush: retries are paced by the timer.
 *
 * `whenWritten` callbacks (the gateway's corked sockets) run after the next write attempt, or at
 * once when nothing is unwritten or writes are failing: live streaming never waits for a disk
 * that is not working.
 */
import type { GatewayDatabase } from './database.js';
import type { DeferredWrites } from './deferredWrites.js';
import { CHUNK_MAX_BYTES, CHUNK_MAX_EVENTS, encodeChunk } from './eventChunk.js';
import type { SessionBounds } from './sessionBounds.js';
import type { SessionState } from './sessionState.js';
import type { LoggedEvent, PersistenceLogger } from './types.js';
import type { WriteHealth } from './writeHealth.js';

/** While writes fail, unwritten events are kept up to this many batches; older ones are dropped. */
export const PENDING_LIMIT_BATCHES = 10;

export interface BatchWriterOptions {
  /** Unwritten events that force a synchronous flush. */
  batchMaxEvents: number;
  /** Newest events of each session kept in its replay tail after a write. */
  tailEvents: number;
  /** Runs the batch flush later in the same process (once per turn). */
  scheduleFlush: (flush: () => void) => void;
  logger?: PersistenceLogger;
}

export interface BatchWriterParts {
  health: WriteHealth;
  bounds: SessionBounds;
  deferred: DeferredWrites;
}

export class BatchWriter {
  /** Unwritten events bound while the database fails. */
  readonly maxPending: number;
  /** Unwritten events in append order from `pendingStart`, with their sessions alongside. */
  private pendingEvents: LoggedEvent[] = [];
  private pendingSessions: SessionState[] = [];
  private pendingStart = 0;
  /** Sessions with something to write, each once. */
  private touched: SessionState[] = [];
  /** One per socket corked in a turn, so bounded by the number of subscribers; emptied every flush. */
  private writtenWaiters: Array<() => void> = [];
  private flushScheduled = false;
  private flushing = false;

  private readonly writeBatch: () => void;
  /** Scratch: UTF-8 sizes of one session's batch events, reused across writes. */
  private sizes: number[] = [];

  constructor(
    private readonly database: GatewayDatabase,
    private readonly options: BatchWriterOptions,
    private readonly parts: BatchWriterParts,
  ) {
    this.maxPending = PENDING_LIMIT_BATCHES * options.batchMaxEvents;
    this.writeBatch = database.sqlite.transaction(() => this.writeBatchInTransaction());
  }

  pendingCount(): number {
    return this.pendingEvents.length - this.pendingStart;
  }

  /** Puts an accepted event in its session's tail and the next write; flushes now, later in the turn, or (failing) not. */
  enqueue(state: SessionState, event: LoggedEvent): void {
    state.tail.push(event);
    state.pendingCount++;
    if (!state.queued) {
      state.queued = true;
      this.touched.push(state);
    }
    this.pendingEvents.push(event);
    this.pendingSessions.push(state);
    const { tailEvents } = this.options;
    if (state.tail.length > tailEvents) state.tail.trim(tailEvents, state.pendingCount);
    const pending = this.pendingCount();
    if (!this.parts.health.isHealthy()) {
      // Retrying per append would redo a failing transaction of up to `maxPending` rows per event.
      if (pending > this.maxPending) this.dropOldestPending(pending - this.maxPending);
      return;
    }
    if (pending >= this.options.batchMaxEvents) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.options.scheduleFlush(this.scheduledFlush);
    }
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    if (this.parts.health.isHealthy()) this.flush();
  };

  whenWritten(callback: () => void): void {
    if (this.pendingCount() === 0 || !this.parts.health.isHealthy()) callback();
    else this.writtenWaiters.push(callback);
  }

  flush(): void {
    const { health, deferred } = this.parts;
    if (health.state === 'closed' || this.flushing) return;
    // While degraded an empty transaction still probes whether the database works again.
    if (this.touched.length === 0 && deferred.length === 0 && health.isHealthy()) return;
    this.flushing = true;
    health.send({ type: 'write.started' });
    let failure: unknown = null;
    let written = false;
    try {
      this.writeBatch();
      written = true;
    } catch (error) {
      failure = error;
    } finally {
      this.flushing = false;
    }
    if (written) this.afterWriteSucceeded();
    else {
      for (const state of this.touched) state.resetBatch();
      this.recordFailure(failure);
    }
    // After a failure too: the log is degraded, and held frames go out without durability.
    this.releaseWaiters();
  }

  /** Any failed access to the database: the machine turns degraded, held frames are released. */
  recordFailure(error: unknown): void {
    const pending = this.pendingCount();
    this.parts.health.send({ type: 'write.failed', error, pendingEvents: pending });
    if (pending > this.maxPending) this.dropOldestPending(pending - this.maxPending);
    this.releaseWaiters();
  }

  /** Drops a forgotten session's unwritten events and its place in the next write. */
  forget(state: SessionState): void {
    if (state.queued) this.touched = this.touched.filter((touched) => touched !== state);
    if (state.pendingCount > 0) {
      const events: LoggedEvent[] = [];
      const sessions: SessionState[] = [];
      for (let i = this.pendingStart; i < this.pendingEvents.length; i++) {
        if (this.pendingSessions[i] === state) continue;
        events.push(this.pendingEvents[i]);
        sessions.push(this.pendingSessions[i]);
      }
      this.pendingEvents = events;
      this.pendingSessions = sessions;
      this.pendingStart = 0;
    }
    state.pendingCount = 0;
    state.queued = false;
    if (this.pendingCount() === 0) this.releaseWaiters();
  }

  /** Runs every `whenWritten` callback now (after a write attempt, or when the log closes). */
  releaseWaiters(): void {
    if (this.writtenWaiters.length === 0) return;
    const waiters = this.writtenWaiters;
    this.writtenWaiters = [];
    for (const waiter of waiters) {
      try {
        waiter();
      } catch (error) {
        this.options.logger?.error('A whenWritten callback threw', { error: error instanceof Error ? error.message : String(error) });
      }
    }
  }

  private writeBatchInTransaction(): void {
    const { bounds } = this.parts;
    this.parts.deferred.replay();
    // Stats must be read before this batch's rows exist, or they would be counted twice.
    for (const state of this.touched) if (!state.statsLoaded) bounds.loadStats(state);
    const events = this.pendingEvents;
    const sessions = this.pendingSessions;
    for (let i = this.pendingStart; i < events.length; i++) sessions[i].batchEvents.push(events[i]);
    for (const state of this.touched) {
      this.insertChunks(state);
      bounds.pruneAndMark(state);
    }
  }

  /** The session's batch as chunks: a new one at a hole in its seqs, at `CHUNK_MAX_EVENTS`, or past `CHUNK_MAX_BYTES`. */
  private insertChunks(state: SessionState): void {
    const events = state.batchEvents;
    const sizes = this.sizes;
    sizes.length = events.length;
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < events.length; i++) {
      const size = Buffer.byteLength(events[i].json, 'utf8');
      sizes[i] = size;
      if (i > start && (events[i].seq !== events[i - 1].seq + 1 || bytes >= CHUNK_MAX_BYTES || i - start >= CHUNK_MAX_EVENTS)) {
        this.parts.bounds.insertChunk(state, encodeChunk(events, sizes, start, i));
        start = i;
        bytes = 0;
      }
      bytes += size;
    }
    if (events.length > start) this.parts.bounds.insertChunk(state, encodeChunk(events, sizes, start, events.length));
  }

  private afterWriteSucceeded(): void {
    this.database.afterCommit();
    for (const state of this.touched) state.commitBatch(this.options.tailEvents);
    this.touched.length = 0;
    this.pendingEvents.length = 0;
    this.pendingSessions.length = 0;
    this.pendingStart = 0;
    this.parts.deferred.clear();
    this.parts.health.send({ type: 'write.succeeded' });
  }

  private dropOldestPending(n: number): void {
    const end = this.pendingStart + n;
    for (let i = this.pendingStart; i < end; i++) this.pendingSessions[i].pendingCount--;
    this.pendingStart = end;
    this.parts.health.countDroppedEvents(n, this.maxPending);
    if (this.pendingStart >= this.maxPending) {
      this.pendingEvents.splice(0, this.pendingStart);
      this.pendingSessions.splice(0, this.pendingStart);
      this.pendingStart = 0;
    }
  }
}
