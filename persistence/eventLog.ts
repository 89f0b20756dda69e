/**
 * The durable chat event log on SQLite (`ChatEventLog`).
 *
 * Appends only touch memory: each event goes to its session's in-memory tail (what replay reads
 * first) and to one pending batch; the batch is written in one transaction per event-loop turn,
 * or at once when it reaches `batchMaxEvents`, so a token stream costs one commit per turn rather
 * than one per delta. The same transaction prunes each touched session to its bounds using
 * per-session counters kept in memory, so steady-state pruning reads only the rows it deletes.
 *
 * A failing write (disk full, read-only file) never throws out of `append`/`flush`: the log turns
 * `degraded`, keeps the events in memory (bounded; the oldest are dropped beyond it), retries
 * later, and a successful write clears the state. Live streaming never waits for the disk.
 */
import type { Statement } from 'better-sqlite3';
import { and, asc, count, eq, gte, lt, max, min, sql } from 'drizzle-orm';

import type { Logger } from '../gateway/logger.js';
import type { GatewayDatabase } from './database.js';
import { chatEvents, chatSeqMarks, runs } from './schema.js';
import type { ChatEventLog, EventLogHealth, LoggedEvent, RunRecord } from './types.js';

/** While writes fail, unwritten events are kept up to this many batches; older ones are dropped. */
export const PENDING_LIMIT_BATCHES = 10;
/** Run-table writes kept for retry while writes fail (runs are rare; this is hours of them). */
export const MAX_QUEUED_RUN_WRITES = 1000;
/** Distinct failure kinds logged per degraded episode, so a message that embeds ids cannot flood the log. */
const MAX_LOGGED_FAILURE_KINDS = 32;
/** Tail slots skipped before the array is compacted: compaction is amortised, not per eviction. */
const TAIL_COMPACT_MIN = 64;
/** Default pause before retrying a failed write when no append triggers a flush. */
export const DEFAULT_RETRY_DELAY_MS = 1000;

export interface SqliteEventLogOptions {
  /** Newest events kept per session in the database. At least 1. */
  maxEventsPerSession: number;
  /** Bytes of event JSON (UTF-8) kept per session; the newest event is kept whatever its size. */
  maxBytesPerSession: number;
  /** Newest events of each session kept in memory for replay (unwritten ones are always kept too). */
  tailEvents: number;
  /** Unwritten events that force a synchronous flush. At least 1. */
  batchMaxEvents: number;
  logger?: Pick<Logger, 'warn' | 'error'>;
  /** Runs the batch flush later in the same process; defaults to `setImmediate` (once per turn). */
  scheduleFlush?: (flush: () => void) => void;
  /** Pause before retrying after a failed write; 0 disables timed retries (then only `flush()`/`close()` retry). */
  retryDelayMs?: number;
}

export interface SqliteEventLog extends ChatEventLog {
  health(): Required<EventLogHealth>;
  release(sessionId: string): boolean;
  whenWritten(callback: () => void): void;
}

/**
 * What the log knows about one session. `stored*` describe its rows in SQLite as of the last
 * successful flush; `batch*`/`next*` are scratch of the flush in progress, discarded if it fails.
 */
class SessionLog {
  latestSeq = 0;
  statsLoaded = false;
  storedCount = 0;
  storedBytes = 0;
  storedOldestSeq = 0;
  storedLatestSeq = 0;
  /** Newest events, oldest first from `tailHead`; always includes every unwritten event of the session. */
  tail: LoggedEvent[] = [];
  tailHead = 0;
  /** Unwritten events of the session: always the newest `pendingCount` entries of the tail. */
  pendingCount = 0;
  /** In the log's `touched` list: has unwritten events (or its seq mark must be written). */
  queued = false;
  batchCount = 0;
  batchBytes = 0;
  batchFirstSeq = 0;
  batchLastSeq = 0;
  nextCount = 0;
  nextBytes = 0;
  nextOldestSeq = 0;
  nextLatestSeq = 0;

  constructor(readonly sessionId: string) {}

  get tailLength(): number {
    return this.tail.length - this.tailHead;
  }

  resetBatch(): void {
    this.batchCount = 0;
    this.batchBytes = 0;
    this.batchFirstSeq = 0;
    this.batchLastSeq = 0;
  }
}

function compactTail(log: SessionLog): void {
  const head = log.tailHead;
  if (head < TAIL_COMPACT_MIN || head * 2 < log.tail.length) return;
  log.tail.copyWithin(0, head);
  log.tail.length -= head;
  log.tailHead = 0;
}

/** Evicts the oldest tail entries beyond `limit`, never an unwritten one. */
function trimTail(log: SessionLog, limit: number): void {
  const excess = log.tailLength - Math.max(limit, log.pendingCount);
  if (excess <= 0) return;
  log.tailHead += excess;
  compactTail(log);
}

/** Evicts tail entries older than `seq` (they were pruned from the database). */
function dropTailBefore(log: SessionLog, seq: number): void {
  const { tail } = log;
  let head = log.tailHead;
  while (head < tail.length && tail[head].seq < seq) head++;
  log.tailHead = head;
  compactTail(log);
}

/** Index of the first tail entry with `seq >= seq`. */
function tailLowerBound(log: SessionLog, seq: number): number {
  const { tail } = log;
  let lo = log.tailHead;
  let hi = tail.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tail[mid].seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function failureKind(error: unknown): { kind: string; message: string; code: string | null } {
  const message = error instanceof Error ? error.message : String(error);
  const rawCode = (error as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : null;
  return { kind: code ?? message, message, code };
}

function positiveInteger(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`Event log option "${name}" must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

class SqliteChatEventLog implements SqliteEventLog {
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly tailEvents: number;
  private readonly batchMaxEvents: number;
  private readonly maxPending: number;
  private readonly retryDelayMs: number;
  private readonly logger: Pick<Logger, 'warn' | 'error'> | undefined;
  private readonly scheduleFlush: (flush: () => void) => void;

  private readonly sessions = new Map<string, SessionLog>();
  /** Unwritten events in append order from `pendingStart`, with their sessions alongside. */
  private pendingEvents: LoggedEvent[] = [];
  private pendingLogs: SessionLog[] = [];
  private pendingStart = 0;
  /** Sessions with something to write, each once. */
  private readonly touched: SessionLog[] = [];
  private readonly queuedRunWrites: Array<() => void> = [];
  /**
   * `whenWritten` callbacks, run after the next write attempt. One per socket corked in a turn,
   * so bounded by the number of subscribers, and emptied every flush.
   */
  private writtenWaiters: Array<() => void> = [];

  private flushScheduled = false;
  private flushing = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;

  private degraded = false;
  private lastError: string | null = null;
  private droppedEvents = 0;
  private droppedRunWrites = 0;
  private readonly loggedFailureKinds = new Set<string>();
  private dropReported = false;

  private readonly writeBatch: () => void;
  private readonly insertEvent: Statement<[string, number, string, string, string, number]>;
  private readonly selectRange;
  private readonly selectStats;
  private readonly selectMark;
  private readonly upsertMark;
  private readonly deleteBefore;
  /** Oldest rows first as `[seq, utf8 bytes]`, read only as far as pruning needs. */
  private readonly walkOldest: Statement<[string], unknown>;
  private readonly selectUnfinishedRuns;

  constructor(private readonly database: GatewayDatabase, options: SqliteEventLogOptions) {
    this.maxEvents = positiveInteger('maxEventsPerSession', options.maxEventsPerSession, 1);
    this.maxBytes = positiveInteger('maxBytesPerSession', options.maxBytesPerSession, 0);
    this.tailEvents = positiveInteger('tailEvents', options.tailEvents, 0);
    this.batchMaxEvents = positiveInteger('batchMaxEvents', options.batchMaxEvents, 1);
    this.retryDelayMs = positiveInteger('retryDelayMs', options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS, 0);
    this.maxPending = PENDING_LIMIT_BATCHES * this.batchMaxEvents;
    this.logger = options.logger;
    this.scheduleFlush = options.scheduleFlush ?? ((flush) => void setImmediate(flush));

    const { db, sqlite } = database;
    const p = (name: string) => sql.placeholder(name);
    // The one statement run per event: bound positionally on the raw connection, since drizzle's
    // prepared `run` allocates and type-checks a parameter array per call (~6% of a flush).
    this.insertEvent = sqlite.prepare<[string, number, string, string, string, number]>(
      'INSERT INTO chat_events (session_id, seq, run_id, kind, json, at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.selectRange = db
      .select()
      .from(chatEvents)
      .where(and(eq(chatEvents.sessionId, p('sessionId')), gte(chatEvents.seq, p('from')), lt(chatEvents.seq, p('before'))))
      .orderBy(asc(chatEvents.seq))
      .limit(p('limit'))
      .prepare();
    this.selectStats = db
      .select({
        count: count(),
        bytes: sql<number>`coalesce(sum(length(cast(${chatEvents.json} as blob))), 0)`,
        oldest: min(chatEvents.seq),
        latest: max(chatEvents.seq),
      })
      .from(chatEvents)
      .where(eq(chatEvents.sessionId, p('sessionId')))
      .prepare();
    this.selectMark = db
      .select({ latestSeq: chatSeqMarks.latestSeq })
      .from(chatSeqMarks)
      .where(eq(chatSeqMarks.sessionId, p('sessionId')))
      .prepare();
    this.upsertMark = db
      .insert(chatSeqMarks)
      .values({ sessionId: p('sessionId'), latestSeq: p('latestSeq') })
      .onConflictDoUpdate({
        target: chatSeqMarks.sessionId,
        set: { latestSeq: sql`max(${chatSeqMarks.latestSeq}, excluded.latest_seq)` },
      })
      .prepare();
    this.deleteBefore = db
      .delete(chatEvents)
      .where(and(eq(chatEvents.sessionId, p('sessionId')), lt(chatEvents.seq, p('before'))))
      .prepare();
    // drizzle has no streaming cursor; pruning must stop reading at the first row it keeps.
    this.walkOldest = sqlite
      .prepare<[string]>('SELECT seq, length(CAST(json AS BLOB)) FROM chat_events WHERE session_id = ? ORDER BY seq')
      .raw(true);
    this.selectUnfinishedRuns = db
      .select({ runId: runs.runId, sessionId: runs.sessionId, provider: runs.provider, startedAt: runs.startedAt })
      .from(runs)
      .where(eq(runs.status, 'running'))
      .orderBy(asc(runs.startedAt))
      .prepare();
    this.writeBatch = sqlite.transaction(() => this.writeBatchInTransaction());
  }

  // ---- appending ----

  append(event: LoggedEvent): void {
    if (this.closed) throw new Error('The chat event log is closed');
    // A malformed row would fail every retry of the batch it is in, stalling all sessions.
    if (
      typeof event.sessionId !== 'string' ||
      typeof event.runId !== 'string' ||
      typeof event.kind !== 'string' ||
      typeof event.json !== 'string' ||
      !Number.isFinite(event.at)
    ) {
      throw new TypeError('A logged event needs string sessionId, runId, kind and json, and a finite at');
    }
    const log = this.sessionLog(event.sessionId);
    const { seq } = event;
    if (!Number.isSafeInteger(seq) || seq <= log.latestSeq) {
      throw new RangeError(
        `Event seq ${String(seq)} of session ${event.sessionId} must be an integer above ${log.latestSeq}`,
      );
    }
    log.latestSeq = seq;
    log.tail.push(event);
    log.pendingCount++;
    if (!log.queued) {
      log.queued = true;
      this.touched.push(log);
    }
    this.pendingEvents.push(event);
    this.pendingLogs.push(log);
    if (log.tailLength > this.tailEvents) trimTail(log, this.tailEvents);

    const pending = this.pendingEvents.length - this.pendingStart;
    if (this.degraded) {
      // Retries are paced by the retry timer; retrying per append would redo a failing
      // transaction of up to `maxPending` rows for every event.
      if (pending > this.maxPending) this.dropOldestPending(pending - this.maxPending);
      return;
    }
    if (pending >= this.batchMaxEvents) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.scheduleFlush(this.scheduledFlush);
    }
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    if (!this.closed && !this.degraded) this.flush();
  };

  private dropOldestPending(n: number): void {
    const end = this.pendingStart + n;
    for (let i = this.pendingStart; i < end; i++) this.pendingLogs[i].pendingCount--;
    this.pendingStart = end;
    this.droppedEvents += n;
    if (!this.dropReported) {
      this.dropReported = true;
      this.logger?.error('Chat event log is dropping unwritten events: the database has been failing too long', {
        keptEvents: this.maxPending,
        lastError: this.lastError,
      });
    }
    if (this.pendingStart >= this.maxPending) {
      this.pendingEvents.splice(0, this.pendingStart);
      this.pendingLogs.splice(0, this.pendingStart);
      this.pendingStart = 0;
    }
  }

  // ---- writing ----

  whenWritten(callback: () => void): void {
    const waiting = this.pendingEvents.length - this.pendingStart > 0;
    if (!waiting || this.degraded || this.closed) callback();
    else this.writtenWaiters.push(callback);
  }

  flush(): void {
    if (this.closed || this.flushing) return;
    // While degraded an empty transaction still probes whether the database works again.
    if (this.touched.length === 0 && this.queuedRunWrites.length === 0 && !this.degraded) return;
    this.flushing = true;
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
      for (const log of this.touched) log.resetBatch();
      this.recordFailure(failure);
    }
    // After a failure too: the log is degraded, and held frames go out without durability.
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    if (this.writtenWaiters.length === 0) return;
    const waiters = this.writtenWaiters;
    this.writtenWaiters = [];
    for (const waiter of waiters) {
      try {
        waiter();
      } catch (error) {
        this.logger?.error('A whenWritten callback threw', { error: error instanceof Error ? error.message : String(error) });
      }
    }
  }

  private writeBatchInTransaction(): void {
    for (const write of this.queuedRunWrites) write();
    // Stats must be read before this batch's rows exist, or they would be counted twice.
    for (const log of this.touched) if (!log.statsLoaded) this.loadStats(log);
    const events = this.pendingEvents;
    const logs = this.pendingLogs;
    const insert = this.insertEvent;
    for (let i = this.pendingStart; i < events.length; i++) {
      const event = events[i];
      const log = logs[i];
      insert.run(event.sessionId, event.seq, event.runId, event.kind, event.json, event.at);
      if (log.batchCount === 0) log.batchFirstSeq = event.seq;
      log.batchCount++;
      log.batchLastSeq = event.seq;
      log.batchBytes += Buffer.byteLength(event.json, 'utf8');
    }
    for (const log of this.touched) this.pruneAndMark(log);
  }

  /** Computes the session's rows after this batch and deletes what exceeds the bounds. */
  private pruneAndMark(log: SessionLog): void {
    let rows = log.storedCount + log.batchCount;
    let bytes = log.storedBytes + log.batchBytes;
    let oldest = log.storedCount > 0 ? log.storedOldestSeq : log.batchFirstSeq;
    const latest = log.batchCount > 0 ? log.batchLastSeq : log.storedLatestSeq;
    if (rows > this.maxEvents || bytes > this.maxBytes) {
      let keepFrom = latest;
      for (const row of this.walkOldest.iterate(log.sessionId)) {
        const [seq, size] = row as [number, number];
        if (rows > 1 && (rows > this.maxEvents || bytes > this.maxBytes)) {
          rows--;
          bytes -= size;
          continue;
        }
        keepFrom = seq;
        break;
      }
      this.deleteBefore.run({ sessionId: log.sessionId, before: keepFrom });
      oldest = keepFrom;
    }
    if (log.latestSeq > latest) this.upsertMark.run({ sessionId: log.sessionId, latestSeq: log.latestSeq });
    log.nextCount = rows;
    log.nextBytes = bytes;
    log.nextOldestSeq = rows > 0 ? oldest : 0;
    log.nextLatestSeq = latest;
  }

  private afterWriteSucceeded(): void {
    for (const log of this.touched) {
      log.storedCount = log.nextCount;
      log.storedBytes = log.nextBytes;
      log.storedOldestSeq = log.nextOldestSeq;
      log.storedLatestSeq = log.nextLatestSeq;
      log.pendingCount = 0;
      log.queued = false;
      log.resetBatch();
      if (log.storedCount > 0) dropTailBefore(log, log.storedOldestSeq);
      trimTail(log, this.tailEvents);
    }
    this.touched.length = 0;
    this.pendingEvents.length = 0;
    this.pendingLogs.length = 0;
    this.pendingStart = 0;
    this.queuedRunWrites.length = 0;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    if (this.degraded) {
      this.degraded = false;
      this.loggedFailureKinds.clear();
      this.dropReported = false;
      this.logger?.warn('Chat event log writes recovered', {
        droppedEvents: this.droppedEvents,
        droppedRunWrites: this.droppedRunWrites,
      });
    }
  }

  private recordFailure(error: unknown): void {
    const { kind, message, code } = failureKind(error);
    this.degraded = true;
    this.lastError = message;
    if (!this.loggedFailureKinds.has(kind) && this.loggedFailureKinds.size < MAX_LOGGED_FAILURE_KINDS) {
      this.loggedFailureKinds.add(kind);
      this.logger?.error('Chat event log write failed; events stay in memory and are retried', {
        error: message,
        code,
        pendingEvents: this.pendingEvents.length - this.pendingStart,
      });
    }
    const pending = this.pendingEvents.length - this.pendingStart;
    if (pending > this.maxPending) this.dropOldestPending(pending - this.maxPending);
    this.armRetry();
    this.releaseWaiters();
  }

  private armRetry(): void {
    if (this.retryTimer || this.closed || this.retryDelayMs === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, this.retryDelayMs);
    // A pending retry must not keep a finished process alive; close() makes the last attempt.
    this.retryTimer.unref();
  }

  // ---- session state ----

  private sessionLog(sessionId: string): SessionLog {
    let log = this.sessions.get(sessionId);
    if (log === undefined) {
      log = new SessionLog(sessionId);
      this.sessions.set(sessionId, log);
      this.tryLoadStats(log);
    }
    return log;
  }

  /** Left unloaded on failure: the next flush loads it before writing, read() before querying. */
  private tryLoadStats(log: SessionLog): void {
    try {
      this.loadStats(log);
    } catch (error) {
      this.recordFailure(error);
    }
  }

  private loadStats(log: SessionLog): void {
    const stats = this.selectStats.get({ sessionId: log.sessionId });
    const mark = this.selectMark.get({ sessionId: log.sessionId });
    log.storedCount = stats?.count ?? 0;
    log.storedBytes = stats?.bytes ?? 0;
    log.storedOldestSeq = stats?.oldest ?? 0;
    log.storedLatestSeq = stats?.latest ?? 0;
    log.latestSeq = Math.max(log.latestSeq, log.storedLatestSeq, mark?.latestSeq ?? 0);
    log.statsLoaded = true;
  }

  // ---- reading ----

  read(sessionId: string, afterSeq: number, limit: number): LoggedEvent[] {
    const max = Math.floor(limit);
    if (!(max > 0)) return [];
    const log = this.sessionLog(sessionId);
    const oldest = this.oldestOf(log);
    if (oldest === 0) {
      if (log.statsLoaded) return [];
      this.loadStats(log); // throws while the database is unreadable: better than a silent gap
      return this.read(sessionId, afterSeq, limit);
    }
    const from = Math.max(Math.floor(afterSeq) + 1, oldest);
    const out: LoggedEvent[] = [];
    const tailFirst = log.tailLength > 0 ? log.tail[log.tailHead].seq : Number.MAX_SAFE_INTEGER;
    if (from < tailFirst) {
      if (!log.statsLoaded) this.loadStats(log);
      if (log.storedCount > 0 && from <= log.storedLatestSeq) {
        const rows = this.selectRange.all({ sessionId, from, before: tailFirst, limit: max });
        for (const row of rows) out.push(row);
      }
    }
    if (out.length < max && log.tailLength > 0) {
      const { tail } = log;
      for (let i = tailLowerBound(log, from); i < tail.length && out.length < max; i++) out.push(tail[i]);
    }
    return out;
  }

  // Both retry an unloaded session's stats: a seq counter seeded from a wrong 0 would collide
  // with stored rows.
  latestSeq(sessionId: string): number {
    const log = this.sessionLog(sessionId);
    if (!log.statsLoaded) this.tryLoadStats(log);
    return log.latestSeq;
  }

  oldestSeq(sessionId: string): number {
    const log = this.sessionLog(sessionId);
    if (!log.statsLoaded) this.tryLoadStats(log);
    return this.oldestOf(log);
  }

  private oldestOf(log: SessionLog): number {
    // Tail entries are either stored rows (never older than storedOldestSeq) or unwritten ones
    // (newer than every stored row), so the database holds the oldest whenever it holds any.
    if (log.storedCount > 0) return log.storedOldestSeq;
    return log.tailLength > 0 ? log.tail[log.tailHead].seq : 0;
  }

  release(sessionId: string): boolean {
    const log = this.sessions.get(sessionId);
    if (log === undefined) return true;
    if (log.queued) return false;
    this.sessions.delete(sessionId);
    return true;
  }

  // ---- runs ----

  // Runs are rare: their queries are built per call rather than prepared.
  runStarted(run: RunRecord): void {
    const { db } = this.database;
    const row = { runId: run.runId, sessionId: run.sessionId, provider: run.provider, startedAt: run.startedAt };
    this.writeRun(() => {
      db.insert(runs).values({ ...row, status: 'running', aborted: false }).onConflictDoNothing().run();
    });
  }

  runCompleted(runId: string, result: { exitCode: number; aborted: boolean; completedAt: number }): void {
    const { db } = this.database;
    const { exitCode, aborted, completedAt } = result;
    this.writeRun(() => {
      db.update(runs).set({ status: 'completed', completedAt, exitCode, aborted }).where(eq(runs.runId, runId)).run();
    });
  }

  /** Writes at once; while earlier run writes wait for retry, queues behind them to keep their order. */
  private writeRun(write: () => void): void {
    if (this.closed) throw new Error('The chat event log is closed');
    if (this.queuedRunWrites.length === 0) {
      try {
        write();
        return;
      } catch (error) {
        this.queuedRunWrites.push(write);
        this.recordFailure(error);
        return;
      }
    }
    if (this.queuedRunWrites.length >= MAX_QUEUED_RUN_WRITES) {
      this.queuedRunWrites.shift();
      this.droppedRunWrites++;
    }
    this.queuedRunWrites.push(write);
  }

  unfinishedRuns(): RunRecord[] {
    return this.selectUnfinishedRuns.all();
  }

  // ---- lifecycle ----

  health(): Required<EventLogHealth> {
    return {
      degraded: this.degraded,
      lastError: this.lastError,
      pendingEvents: this.pendingEvents.length - this.pendingStart,
      droppedEvents: this.droppedEvents,
    };
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    const unwritten = this.pendingEvents.length - this.pendingStart;
    if (unwritten > 0 || this.queuedRunWrites.length > 0) {
      this.logger?.error('Chat event log closed with unwritten data', {
        events: unwritten,
        runWrites: this.queuedRunWrites.length,
        lastError: this.lastError,
      });
    }
    this.closed = true;
    this.releaseWaiters();
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.database.close();
  }
}

export function createSqliteEventLog(database: GatewayDatabase, options: SqliteEventLogOptions): SqliteEventLog {
  return new SqliteChatEventLog(database, options);
}
