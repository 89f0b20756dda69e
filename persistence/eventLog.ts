/**
 * The durable chat event log on SQLite (`ChatEventLog`): the facade that holds each session's
 * state and hands the work to one owner per concern:
 *
 * | concern | file |
 * |---|---|
 * | one session's seq counter, stored-row counters, replay tail | `sessionState.ts`, `replayTail.ts` (its search: `seqRange.ts`, shared with the cluster's mirror) |
 * | batching: one transaction per event-loop turn, `whenWritten` | `batchWriter.ts` |
 * | pruning each session to its bounds, seq marks | `sessionBounds.ts` |
 * | run rows and session deletions, queued in order while writes fail | `runsTable.ts`, `deferredWrites.ts` |
 * | healthy / degraded / retrying / closed, the retry timer, failure logging | `writeHealth.ts` |
 * | reads across the tail and SQLite | `historyReader.ts` |
 *
 * Appends only touch memory; live streaming never waits for the disk. A failing database never
 * throws out of `append`/`flush`: the log turns `degraded`, keeps unwritten events in memory
 * (bounded) and retries; a successful write clears the state.
 */
import type { GatewayDatabase } from './database.js';
import { BatchWriter } from './batchWriter.js';
import { DeferredWrites } from './deferredWrites.js';
import { HistoryReader } from './historyReader.js';
import { assertLoggedEvent } from './loggedEvent.js';
import { RunsTable, type RunResult } from './runsTable.js';
import { SessionBounds } from './sessionBounds.js';
import { SessionState } from './sessionState.js';
import type { ChatEventLog, EventLogHealth, LoggedEvent, PersistenceLogger, RunRecord } from './types.js';
import { DEFAULT_RETRY_DELAY_MS, WriteHealth } from './writeHealth.js';

export { PENDING_LIMIT_BATCHES } from './batchWriter.js';
export { ForgetBacklogError, MAX_QUEUED_FORGETS, MAX_QUEUED_RUN_WRITES } from './deferredWrites.js';
export { DEFAULT_RETRY_DELAY_MS } from './writeHealth.js';

export interface SqliteEventLogOptions {
  /** Newest events kept per session in the database. At least 1. */
  maxEventsPerSession: number;
  /** Bytes of event JSON (UTF-8) kept per session; the newest event is kept whatever its size. */
  maxBytesPerSession: number;
  /** Newest events of each session kept in memory for replay (unwritten ones are always kept too). */
  tailEvents: number;
  /** Unwritten events that force a synchronous flush. At least 1. */
  batchMaxEvents: number;
  logger?: PersistenceLogger;
  /** Runs the batch flush later in the same process; defaults to `setImmediate` (once per turn). */
  scheduleFlush?: (flush: () => void) => void;
  /** Pause before retrying after a failed write; 0 disables timed retries (then only `flush()`/`close()` retry). */
  retryDelayMs?: number;
}

export interface SqliteEventLog extends ChatEventLog {
  health(): Required<EventLogHealth>;
  release(sessionId: string): boolean;
  whenWritten(callback: () => void): void;
  /** Throws `ForgetBacklogError` (nothing forgotten) when too many deletions wait for a failing database. */
  forgetSession(sessionId: string): void;
}

function integerOption(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new TypeError(`Event log option "${name}" must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

const CLOSED_MESSAGE = 'The chat event log is closed';

class SqliteChatEventLog implements SqliteEventLog {
  private readonly sessions = new Map<string, SessionState>();
  private readonly writeHealth: WriteHealth;
  private readonly bounds: SessionBounds;
  private readonly deferred: DeferredWrites;
  private readonly writer: BatchWriter;
  private readonly runs: RunsTable;
  private readonly reader: HistoryReader;
  private readonly deleteRows: (sessionId: string) => void;

  constructor(private readonly database: GatewayDatabase, options: SqliteEventLogOptions) {
    const maxEvents = integerOption('maxEventsPerSession', options.maxEventsPerSession, 1);
    const maxBytes = integerOption('maxBytesPerSession', options.maxBytesPerSession, 0);
    const tailEvents = integerOption('tailEvents', options.tailEvents, 0);
    const batchMaxEvents = integerOption('batchMaxEvents', options.batchMaxEvents, 1);
    const retryDelayMs = integerOption('retryDelayMs', options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS, 0);

    this.writeHealth = new WriteHealth({ retryDelayMs, logger: options.logger, retry: () => this.writer.flush() });
    this.bounds = new SessionBounds(database, maxEvents, maxBytes);
    this.deferred = new DeferredWrites(this.writeHealth, (error) => this.writer.recordFailure(error));
    this.writer = new BatchWriter(
      database,
      {
        batchMaxEvents,
        tailEvents,
        scheduleFlush: options.scheduleFlush ?? ((flush) => void setImmediate(flush)),
        logger: options.logger,
      },
      { health: this.writeHealth, bounds: this.bounds, deferred: this.deferred },
    );
    this.runs = new RunsTable(database, this.deferred);
    this.reader = new HistoryReader(database, this.bounds);
    this.deleteRows = database.sqlite.transaction((sessionId: string) => {
      this.bounds.deleteSession(sessionId);
      this.runs.deleteSession(sessionId);
    });
  }

  // ---- events ----

  append(event: LoggedEvent): void {
    if (this.writeHealth.state === 'closed') throw new Error(CLOSED_MESSAGE);
    assertLoggedEvent(event);
    const state = this.stateOf(event.sessionId);
    const { seq } = event;
    if (!Number.isSafeInteger(seq) || seq <= state.latestSeq) {
      throw new RangeError(
        `Event seq ${String(seq)} of session ${event.sessionId} must be an integer above ${state.latestSeq}`,
      );
    }
    state.latestSeq = seq;
    this.writer.enqueue(state, event);
  }

  read(sessionId: string, afterSeq: number, limit: number): LoggedEvent[] {
    return this.reader.read(this.stateOf(sessionId), afterSeq, limit);
  }

  // Both retry an unloaded session's stats: a seq counter seeded from a wrong 0 would collide
  // with stored rows.
  latestSeq(sessionId: string): number {
    const state = this.stateOf(sessionId);
    if (!state.statsLoaded) this.tryLoadStats(state);
    return state.latestSeq;
  }

  oldestSeq(sessionId: string): number {
    const state = this.stateOf(sessionId);
    if (!state.statsLoaded) this.tryLoadStats(state);
    return state.oldestSeq();
  }

  // ---- sessions in memory ----

  private stateOf(sessionId: string): SessionState {
    let state = this.sessions.get(sessionId);
    if (state === undefined) {
      state = new SessionState(sessionId);
      this.sessions.set(sessionId, state);
      // Its old rows are deleted by a queued write that lands before any new one: start from empty.
      if (this.deferred.isForgetting(sessionId)) state.statsLoaded = true;
      else this.tryLoadStats(state);
    }
    return state;
  }

  /** Left unloaded on failure: the next flush loads it before writing, read() before querying. */
  private tryLoadStats(state: SessionState): void {
    try {
      this.bounds.loadStats(state);
    } catch (error) {
      this.writer.recordFailure(error);
    }
  }

  release(sessionId: string): boolean {
    const state = this.sessions.get(sessionId);
    if (state === undefined) return true;
    if (state.queued) return false;
    this.sessions.delete(sessionId);
    return true;
  }

  forgetSession(sessionId: string): void {
    if (this.writeHealth.state === 'closed') throw new Error(CLOSED_MESSAGE);
    if (typeof sessionId !== 'string') throw new TypeError('forgetSession needs a string sessionId');
    // First, so a refusal (ForgetBacklogError) leaves everything as it was.
    this.deferred.forget(sessionId, () => this.deleteRows(sessionId));
    const state = this.sessions.get(sessionId);
    if (state === undefined) return;
    this.sessions.delete(sessionId);
    this.writer.forget(state);
  }

  // ---- runs ----

  runStarted(run: RunRecord): void {
    if (this.writeHealth.state === 'closed') throw new Error(CLOSED_MESSAGE);
    this.runs.started(run);
  }

  runCompleted(runId: string, result: RunResult): void {
    if (this.writeHealth.state === 'closed') throw new Error(CLOSED_MESSAGE);
    this.runs.completed(runId, result);
  }

  unfinishedRuns(): RunRecord[] {
    return this.runs.unfinished();
  }

  // ---- writing and lifecycle ----

  flush(): void {
    this.writer.flush();
  }

  whenWritten(callback: () => void): void {
    if (this.writeHealth.state === 'closed') callback();
    else this.writer.whenWritten(callback);
  }

  health(): Required<EventLogHealth> {
    return this.writeHealth.report(this.writer.pendingCount());
  }

  close(): void {
    if (this.writeHealth.state === 'closed') return;
    this.writer.flush();
    const unwritten = this.writer.pendingCount();
    const runWrites = this.deferred.queuedRunWrites;
    if (unwritten > 0 || this.deferred.length > 0) this.writeHealth.reportUnwrittenAtClose(unwritten, runWrites);
    this.writeHealth.send({ type: 'log.closed' });
    this.writer.releaseWaiters();
    this.database.close();
  }
}

export function createSqliteEventLog(database: GatewayDatabase, options: SqliteEventLogOptions): SqliteEventLog {
  return new SqliteChatEventLog(database, options);
}
