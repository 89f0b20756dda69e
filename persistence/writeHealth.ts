/**
 * Whether the event log's writes reach the database: a small explicit state machine.
 *
 * ```
 *   healthy ──write.failed──▶ degraded ──write.started──▶ retrying ──write.succeeded──▶ healthy
 *                              │  ▲  ▲                       │
 *                 retry.due ───┘  │  └──── write.failed ─────┘
 *        (the timer asks for a flush, which sends write.started)
 *   healthy, degraded, retrying ──log.closed──▶ closed (terminal: every event is ignored)
 * ```
 *
 * - `healthy`: the last write committed. Appends schedule one flush per event-loop turn.
 * - `degraded`: a write (or a read of a session's counters) failed. Appends only touch memory
 *   (bounded by the writer); frames held for durability go out at once; the retry timer is armed.
 * - `retrying`: a write attempt is running while degraded (one synchronous transaction).
 * - `closed`: the log was closed; the timer is cancelled.
 *
 * The table `WRITE_TRANSITIONS` is the whole machine: an event a state does not list is ignored.
 * `WriteHealth.send` applies it and runs the effects of the transition taken:
 * - `write.failed` (into degraded): remembers the message as `lastError`, logs each distinct
 *   failure kind once per degraded episode (at most `MAX_LOGGED_FAILURE_KINDS`), arms the retry
 *   timer unless it is armed already or timed retries are off (`retryDelayMs` 0).
 * - `write.succeeded` from degraded or retrying: cancels the timer, logs the recovery with the
 *   drop counters, and starts a new episode (failure kinds and the drop report are logged anew).
 * - `retry.due` (degraded): calls `retry`, the writer's flush.
 * - `log.closed`: cancels the timer.
 *
 * The timer is injected (`RetryTimer`); the default is an unref'd `setTimeout`, so a pending retry
 * never keeps a finished process alive (closing the log makes the last attempt).
 */
import type { EventLogHealth, PersistenceLogger } from './types.js';

/** Default pause before retrying a failed write when no append triggers a flush. */
export const DEFAULT_RETRY_DELAY_MS = 1000;
/** Distinct failure kinds logged per degraded episode, so a message that embeds ids cannot flood the log. */
export const MAX_LOGGED_FAILURE_KINDS = 32;

export type WriteState = 'healthy' | 'degraded' | 'retrying' | 'closed';

export type WriteEvent =
  /** A batch transaction begins. */
  | { type: 'write.started' }
  /** The batch transaction committed. */
  | { type: 'write.succeeded' }
  /** A write or a read of the database threw; `pendingEvents` is the unwritten backlog, for the log line. */
  | { type: 'write.failed'; error: unknown; pendingEvents: number }
  /** The retry timer fired. */
  | { type: 'retry.due' }
  | { type: 'log.closed' };

export type WriteEventType = WriteEvent['type'];

export const WRITE_TRANSITIONS: Readonly<Record<WriteState, Readonly<Partial<Record<WriteEventType, WriteState>>>>> = {
  healthy: { 'write.started': 'healthy', 'write.succeeded': 'healthy', 'write.failed': 'degraded', 'log.closed': 'closed' },
  degraded: {
    'write.started': 'retrying',
    'write.succeeded': 'healthy',
    'write.failed': 'degraded',
    'retry.due': 'degraded',
    'log.closed': 'closed',
  },
  retrying: { 'write.succeeded': 'healthy', 'write.failed': 'degraded', 'log.closed': 'closed' },
  closed: {},
};

/** The next state, or `null` when `state` ignores the event. */
export function nextWriteState(state: WriteState, type: WriteEventType): WriteState | null {
  return WRITE_TRANSITIONS[state][type] ?? null;
}

export interface RetryTimer {
  /** Calls `callback` once after `delayMs`; returns a function that cancels it. */
  start(callback: () => void, delayMs: number): () => void;
}

/** `setTimeout`, unref'd: a pending retry must not keep a finished process alive. */
export const unrefRetryTimer: RetryTimer = {
  start(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface WriteHealthOptions {
  /** Pause before a timed retry; 0 disables timed retries (then only explicit flushes retry). */
  retryDelayMs: number;
  /** Called when the retry timer fires: the writer's flush. */
  retry: () => void;
  logger?: PersistenceLogger;
  timer?: RetryTimer;
}

function failureKind(error: unknown): { kind: string; message: string; code: string | null } {
  const message = error instanceof Error ? error.message : String(error);
  const rawCode = (error as { code?: unknown } | null)?.code;
  const code = typeof rawCode === 'string' ? rawCode : null;
  return { kind: code ?? message, message, code };
}

export class WriteHealth {
  private current: WriteState = 'healthy';
  private cancelRetry: (() => void) | null = null;
  private lastErrorMessage: string | null = null;
  private droppedEventCount = 0;
  private droppedRunWriteCount = 0;
  /** Per degraded episode: failure kinds already logged, and whether drops were reported. */
  private readonly loggedFailureKinds = new Set<string>();
  private dropReported = false;

  constructor(private readonly options: WriteHealthOptions) {}

  get state(): WriteState {
    return this.current;
  }

  /** Writes go through: appends may schedule flushes and wait for them. */
  isHealthy(): boolean {
    return this.current === 'healthy';
  }

  get droppedEvents(): number {
    return this.droppedEventCount;
  }

  send(event: WriteEvent): void {
    const from = this.current;
    const to = nextWriteState(from, event.type);
    if (to === null) return;
    this.current = to;
    switch (event.type) {
      case 'write.failed':
        this.recordFailure(event.error, event.pendingEvents);
        this.armRetry();
        return;
      case 'write.succeeded':
        if (from !== 'healthy') this.recovered();
        return;
      case 'retry.due':
        this.options.retry();
        return;
      case 'log.closed':
        this.disarmRetry();
        return;
      case 'write.started':
        return;
    }
  }

  /** Unwritten events given up on (the backlog hit its bound); logged once per episode. */
  countDroppedEvents(n: number, keptEvents: number): void {
    this.droppedEventCount += n;
    if (this.dropReported) return;
    this.dropReported = true;
    this.options.logger?.error('Chat event log is dropping unwritten events: the database has been failing too long', {
      keptEvents,
      lastError: this.lastErrorMessage,
    });
  }

  countDroppedRunWrite(): void {
    this.droppedRunWriteCount++;
  }

  report(pendingEvents: number): Required<EventLogHealth> {
    return {
      degraded: this.current === 'degraded' || this.current === 'retrying',
      lastError: this.lastErrorMessage,
      pendingEvents,
      droppedEvents: this.droppedEventCount,
    };
  }

  /** Logs the last failure when the log closes with data it could not write. */
  reportUnwrittenAtClose(events: number, runWrites: number): void {
    this.options.logger?.error('Chat event log closed with unwritten data', {
      events,
      runWrites,
      lastError: this.lastErrorMessage,
    });
  }

  private recordFailure(error: unknown, pendingEvents: number): void {
    const { kind, message, code } = failureKind(error);
    this.lastErrorMessage = message;
    if (this.loggedFailureKinds.has(kind) || this.loggedFailureKinds.size >= MAX_LOGGED_FAILURE_KINDS) return;
    this.loggedFailureKinds.add(kind);
    this.options.logger?.error('Chat event log write failed; events stay in memory and are retried', {
      error: message,
      code,
      pendingEvents,
    });
  }

  private recovered(): void {
    this.disarmRetry();
    this.loggedFailureKinds.clear();
    this.dropReported = false;
    this.options.logger?.warn('Chat event log writes recovered', {
      droppedEvents: this.droppedEventCount,
      droppedRunWrites: this.droppedRunWriteCount,
    });
  }

  private armRetry(): void {
    if (this.cancelRetry !== null || this.options.retryDelayMs === 0) return;
    const timer = this.options.timer ?? unrefRetryTimer;
    this.cancelRetry = timer.start(() => {
      this.cancelRetry = null;
      this.send({ type: 'retry.due' });
    }, this.options.retryDelayMs);
  }

  private disarmRetry(): void {
    if (this.cancelRetry === null) return;
    this.cancelRetry();
    this.cancelRetry = null;
  }
}
