/**
 * Writes this node's appended events to Redis. `append` only touches memory (the session's
 * mirror and its pending list); once per event-loop turn the pending events of every session go
 * out in one pipeline, one `agAppend` script call per batch (`scripts.ts`: fenced by the
 * session's lease token, seqs checked against the log, pruning, and the run's end).
 *
 * A batch's reply settles its events: `ok` acknowledges them; `fenced`/`conflict` drops the
 * session's unwritten events, rolls its mirror back to what the backend holds and reports
 * `onAppendRefused(sessionId, 'fenced')`. A failed call (Redis unreachable, a timeout) keeps them:
 * the writer turns `failing`, stops writing on every append, and retries on a backoff
 * (`RETRY_MIN_MS` doubling to `RETRY_MAX_MS`, at once when the connection is ready again).
 *
 * `whenWritten` callbacks wait until every event appended before them is settled (acknowledged,
 * refused or given up). The unwritten backlog is bounded (`MAX_UNWRITTEN_EVENTS`,
 * `MAX_UNWRITTEN_BYTES`, and `MAX_WRITTEN_WAITERS` callbacks): past a bound every session with
 * unwritten events loses them and gets `onAppendRefused(sessionId, 'backlog')`, and the callbacks
 * run, so no socket stays corked on a Redis that does not come back.
 *
 * Nothing here throws out of a scheduled flush: every failure becomes state.
 */
import type { ChainableCommander, Redis } from 'ioredis';

import type { AppendRefusal } from '../cluster/types.js';
import type { EventLogHealth, PersistenceLogger } from '../types.js';
import type { RedisKeys } from './keys.js';
import type { LogMirror, MirroredSession, QueuedEvent } from './logMirror.js';
import type { ConnectionStatus } from './redisConnections.js';
import type { RedisScripts, ScriptArg } from './scripts.js';

/** Unwritten events this node keeps while Redis cannot be reached; past it they are given up. */
export const MAX_UNWRITTEN_EVENTS = 50_000;
/** Unwritten event JSON bytes this node keeps while Redis cannot be reached. */
export const MAX_UNWRITTEN_BYTES = 64 * 1024 * 1024;
/** `whenWritten` callbacks waiting at once; past it the backlog is given up so they all run. */
export const MAX_WRITTEN_WAITERS = 100_000;
/** Events per script call (a call blocks Redis while it runs: keep each short). */
export const SCRIPT_BATCH_MAX_EVENTS = 512;
/** Event JSON bytes per script call. */
export const SCRIPT_BATCH_MAX_BYTES = 4 * 1024 * 1024;
/** First pause before retrying a failed write… */
export const RETRY_MIN_MS = 100;
/** …doubling up to this. */
export const RETRY_MAX_MS = 2_000;
/** How often `drain` looks again while a write is in flight or retrying. */
const DRAIN_POLL_MS = 20;

export interface AppendWriterHooks {
  fenceOf(sessionId: string): string | null;
  onAppendRefused(sessionId: string, reason: AppendRefusal): void;
  /** A batch with the run's `complete` was acknowledged (its record and lease are gone). */
  onRunCompleted(sessionId: string, runId: string): void;
  /** The session has nothing unwritten any more (it may leave the mirror). */
  onSettled(session: MirroredSession): void;
  /** The session's unwritten events were taken out of its mirror (its latest seq moved back). */
  onRolledBack(session: MirroredSession): void;
}

export interface AppendWriterOptions {
  maxEventsPerSession: number;
  maxBytesPerSession: number;
  logger?: PersistenceLogger;
}

interface Batch {
  session: MirroredSession;
  /** The session's epoch when the batch went out: a result for an older epoch is discarded. */
  epoch: number;
  /** The lease token the batch is fenced with. */
  token: string;
  entries: QueuedEvent[];
}

type BatchRefusal = { status: 'fenced' | 'conflict'; latestSeq: number };
type BatchReply = { status: 'ok'; oldestSeq: number } | BatchRefusal;

function parseReply(reply: unknown): BatchReply | null {
  if (!Array.isArray(reply) || reply.length < 3) return null;
  const [status, latest, oldest] = reply as unknown[];
  if (status === 'ok') return { status, oldestSeq: Number(oldest) };
  if (status === 'fenced' || status === 'conflict') return { status, latestSeq: Number(latest) };
  return null;
}

/** Splits a session's pending events into script calls; a batch ends after a `complete` (it ends the lease). */
function splitBatches(entries: readonly QueuedEvent[]): QueuedEvent[][] {
  const batches: QueuedEvent[][] = [];
  let current: QueuedEvent[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (current.length > 0 && (current.length >= SCRIPT_BATCH_MAX_EVENTS || bytes + entry.bytes > SCRIPT_BATCH_MAX_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += entry.bytes;
    if (entry.event.kind === 'complete') {
      batches.push(current);
      current = [];
      bytes = 0;
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export class AppendWriter {
  /** Sessions with pending events, each once. */
  private readonly dirty = new Set<MirroredSession>();
  private unwrittenEvents = 0;
  private unwrittenBytes = 0;
  private nextOrdinal = 1;
  /** In registration order, so their ordinals ascend. */
  private waiters: Array<{ ordinal: number; callback: () => void }> = [];
  private state: 'healthy' | 'failing' | 'closed' = 'healthy';
  private flushing = false;
  private flushScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryDelay = RETRY_MIN_MS;
  private droppedEventCount = 0;
  private lastErrorText: string | null = null;
  private backlogReported = false;
  private hooks: AppendWriterHooks;

  constructor(
    private readonly command: Redis,
    private readonly scripts: RedisScripts,
    private readonly keys: RedisKeys,
    private readonly mirror: LogMirror,
    private readonly status: ConnectionStatus,
    private readonly options: AppendWriterOptions,
    hooks: AppendWriterHooks,
  ) {
    this.hooks = hooks;
    // Redis is back: retry now rather than at the end of the backoff.
    command.on('ready', this.onReady);
  }

  get pendingCount(): number {
    return this.unwrittenEvents;
  }

  get droppedEvents(): number {
    return this.droppedEventCount;
  }

  health(): Required<EventLogHealth> {
    return {
      degraded: this.state === 'failing',
      lastError: this.lastErrorText,
      pendingEvents: this.unwrittenEvents,
      droppedEvents: this.droppedEventCount,
    };
  }

  /** Queues an event the mirror holds already (`LogMirror.addOwn` was given the same entry). */
  enqueue(session: MirroredSession, entry: QueuedEvent): void {
    this.dirty.add(session);
    this.unwrittenEvents++;
    this.unwrittenBytes += entry.bytes;
    if (this.unwrittenEvents > MAX_UNWRITTEN_EVENTS || this.unwrittenBytes > MAX_UNWRITTEN_BYTES) {
      this.giveUpBacklog();
      return;
    }
    if (this.state === 'healthy') this.scheduleFlush();
  }

  /** The next ordinal an appended event gets. */
  takeOrdinal(): number {
    return this.nextOrdinal++;
  }

  whenWritten(callback: () => void): void {
    if (this.unwrittenEvents === 0 || this.state === 'closed') {
      callback();
      return;
    }
    this.waiters.push({ ordinal: this.nextOrdinal - 1, callback });
    if (this.waiters.length > MAX_WRITTEN_WAITERS) this.giveUpBacklog();
  }

  /** Writes now (or retries now, while failing). */
  flushNow(): void {
    if (this.state === 'closed') return;
    this.clearRetry();
    this.flush();
  }

  /** Drops a session's pending events without a refusal (its log is being deleted). */
  discard(session: MirroredSession): void {
    this.forgetPending(session);
    this.dirty.delete(session);
    this.releaseWaiters();
  }

  /**
   * Writes what it can until nothing is pending or `deadline` (epoch ms) passes, then gives up
   * the rest (logged) and runs every callback. The writer is closed afterwards.
   */
  async drain(deadline: number): Promise<void> {
    while (this.state !== 'closed' && this.unwrittenEvents > 0 && Date.now() < deadline) {
      if (!this.flushing) this.flushNow();
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    if (this.state === 'closed') return;
    if (this.unwrittenEvents > 0) {
      this.options.logger?.error('Cluster event log closed with unwritten events', {
        events: this.unwrittenEvents,
        lastError: this.lastErrorText,
      });
      this.droppedEventCount += this.unwrittenEvents;
      for (const session of [...this.dirty]) this.forgetPending(session);
      this.dirty.clear();
    }
    this.state = 'closed';
    this.clearRetry();
    this.command.off('ready', this.onReady);
    this.runWaiters(this.waiters.splice(0));
  }

  // ---- flushing ----

  private readonly onReady = (): void => {
    if (this.state === 'failing' && !this.flushing && this.dirty.size > 0) this.flushNow();
  };

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    setImmediate(this.scheduledFlush);
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    if (this.state === 'healthy') this.flush();
  };

  private flush(): void {
    if (this.flushing || this.state === 'closed') return;
    try {
      this.startFlush();
    } catch (error) {
      // A bug or an ioredis surprise: keep everything pending and retry like any failure.
      this.flushing = false;
      this.recordFailure(error);
    }
  }

  private startFlush(): void {
    const refused: MirroredSession[] = [];
    const batches: Batch[] = [];
    for (const session of this.dirty) {
      if (session.pending.length === 0) continue;
      let token: string | null = null;
      try {
        token = this.hooks.fenceOf(session.sessionId);
      } catch (error) {
        this.options.logger?.error('fenceOf threw; the session is refused', { error: this.status.describe(error) });
      }
      if (token === null) {
        refused.push(session);
        continue;
      }
      for (const entries of splitBatches(session.pending)) batches.push({ session, epoch: session.epoch, token, entries });
    }
    for (const session of refused) this.refuse(session, 'fenced');
    if (batches.length === 0) {
      this.releaseWaiters();
      // Nothing left to retry, but the state must still learn when Redis answers again.
      if (this.state === 'failing') this.probe();
      return;
    }
    const pipeline = this.command.pipeline();
    for (const batch of batches) this.queueBatch(pipeline, batch);
    this.flushing = true;
    pipeline.exec().then(
      (results) => this.settle(batches, results ?? null, null),
      (error: unknown) => this.settle(batches, null, error),
    );
  }

  private probe(): void {
    this.flushing = true;
    this.command.ping().then(
      () => {
        this.flushing = false;
        if (this.state === 'failing') this.recovered();
        if (this.dirty.size > 0) this.scheduleFlush();
      },
      (error: unknown) => {
        this.flushing = false;
        this.recordFailure(error);
      },
    );
  }

  private queueBatch(pipeline: ChainableCommander, batch: Batch): void {
    const { sessionId } = batch.session;
    const { keys } = this;
    const args: ScriptArg[] = [batch.token, this.options.maxEventsPerSession, this.options.maxBytesPerSession, sessionId];
    for (const { event } of batch.entries) args.push(String(event.seq), event.runId, event.kind, event.json, String(event.at));
    this.scripts.queue(
      pipeline,
      'agAppend',
      [
        keys.log(sessionId),
        keys.meta(sessionId),
        keys.lease(sessionId),
        keys.run(sessionId),
        keys.runs,
        keys.sessions,
        keys.session(sessionId),
      ],
      args,
    );
  }

  private settle(batches: Batch[], results: Array<[Error | null, unknown]> | null, pipelineError: unknown): void {
    this.flushing = false;
    let failure: unknown = pipelineError;
    const completed: Array<[string, string]> = [];
    let i = 0;
    while (i < batches.length) {
      const { session, epoch } = batches[i];
      let end = i;
      while (end < batches.length && batches[end].session === session) end++;
      // A session rolled back, forgotten or given up meanwhile has no say in this write any more.
      if (session.epoch === epoch) {
        let refusedWith: BatchRefusal | null = null;
        for (let b = i; b < end; b++) {
          const [error, raw] = results?.[b] ?? [pipelineError ?? new Error('no reply'), null];
          if (error) {
            failure = error;
            break;
          }
          const reply = parseReply(raw);
          if (reply === null) {
            failure = new Error(`Unexpected reply of the append script: ${JSON.stringify(raw)}`);
            break;
          }
          if (reply.status !== 'ok') {
            refusedWith = reply;
            break;
          }
          const { entries } = batches[b];
          let bytes = 0;
          for (const entry of entries) {
            bytes += entry.bytes;
            if (entry.event.kind === 'complete') completed.push([session.sessionId, entry.event.runId]);
          }
          this.unwrittenEvents -= entries.length;
          this.unwrittenBytes -= bytes;
          this.mirror.acknowledge(session, entries.length, reply.oldestSeq);
        }
        if (refusedWith !== null) {
          this.options.logger?.warn('Redis refused a session\'s events; they are dropped', {
            sessionId: session.sessionId,
            reason: refusedWith.status,
            latestSeq: refusedWith.latestSeq,
            firstSeq: session.pending[0]?.event.seq ?? null,
          });
          this.refuse(session, 'fenced');
        } else if (session.pending.length === 0) {
          this.dirty.delete(session);
          this.hooks.onSettled(session);
        }
      }
      i = end;
    }
    for (const [sessionId, runId] of completed) {
      try {
        this.hooks.onRunCompleted(sessionId, runId);
      } catch (error) {
        this.options.logger?.error('onRunCompleted threw', { error: this.status.describe(error) });
      }
    }
    if (failure !== null && failure !== undefined) this.recordFailure(failure);
    else if (this.state === 'failing') this.recovered();
    else this.status.noteSuccess();
    this.releaseWaiters();
    if (this.state === 'healthy' && this.dirty.size > 0) this.scheduleFlush();
  }

  private recordFailure(error: unknown): void {
    this.status.noteFailure(error);
    const message = this.status.describe(error);
    if (this.state !== 'failing' || this.lastErrorText !== message) {
      this.options.logger?.error('Cluster event log write failed; events stay in memory and are retried', {
        error: message,
        pendingEvents: this.unwrittenEvents,
      });
    }
    this.lastErrorText = message;
    if (this.state === 'closed') return;
    if (this.state === 'failing') this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
    else this.retryDelay = RETRY_MIN_MS;
    this.state = 'failing';
    this.armRetry();
  }

  private recovered(): void {
    this.status.noteSuccess();
    this.state = 'healthy';
    this.retryDelay = RETRY_MIN_MS;
    this.backlogReported = false;
    this.clearRetry();
    this.options.logger?.warn('Cluster event log writes recovered', { droppedEvents: this.droppedEventCount });
  }

  private armRetry(): void {
    if (this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, this.retryDelay);
    this.retryTimer.unref();
  }

  private clearRetry(): void {
    if (this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  // ---- giving up ----

  /** The backend refused the session's events (or there is no lease to fence them with). */
  private refuse(session: MirroredSession, reason: AppendRefusal): void {
    this.forgetPending(session);
    this.dirty.delete(session);
    this.notifyRefused([session.sessionId], reason);
    this.hooks.onSettled(session);
  }

  /** Past a backlog bound: every session with unwritten events loses them. */
  private giveUpBacklog(): void {
    const sessions = [...this.dirty];
    const events = this.unwrittenEvents;
    this.droppedEventCount += events;
    for (const session of sessions) this.forgetPending(session);
    this.dirty.clear();
    if (!this.backlogReported) {
      this.backlogReported = true;
      this.options.logger?.error('Cluster event log gave up its unwritten backlog: Redis has been failing too long', {
        events,
        sessions: sessions.length,
        lastError: this.lastErrorText,
      });
    }
    // From inside an append: the gateway hears of it on the next turn, not re-entrantly.
    setImmediate(() => {
      this.notifyRefused(
        sessions.map((session) => session.sessionId),
        'backlog',
      );
      for (const session of sessions) this.hooks.onSettled(session);
      this.releaseWaiters();
    });
  }

  /** Takes a session's pending events out of the counters and its mirror (back to the backend's log). */
  private forgetPending(session: MirroredSession): void {
    let bytes = 0;
    for (const entry of session.pending) bytes += entry.bytes;
    this.unwrittenEvents -= session.pending.length;
    this.unwrittenBytes -= bytes;
    const hadPending = session.pending.length > 0;
    this.mirror.rollBack(session);
    if (hadPending) this.hooks.onRolledBack(session);
  }

  private notifyRefused(sessionIds: readonly string[], reason: AppendRefusal): void {
    for (const sessionId of sessionIds) {
      try {
        this.hooks.onAppendRefused(sessionId, reason);
      } catch (error) {
        this.options.logger?.error('onAppendRefused threw', { sessionId, error: this.status.describe(error) });
      }
    }
  }

  // ---- whenWritten ----

  /** Runs the callbacks whose events are all settled: every pending event is newer than them. */
  private releaseWaiters(): void {
    if (this.waiters.length === 0) return;
    let oldestPending = Infinity;
    for (const session of this.dirty) {
      const first = session.pending[0];
      if (first !== undefined && first.ordinal < oldestPending) oldestPending = first.ordinal;
    }
    let n = 0;
    while (n < this.waiters.length && this.waiters[n].ordinal < oldestPending) n++;
    if (n > 0) this.runWaiters(this.waiters.splice(0, n));
  }

  private runWaiters(waiters: ReadonlyArray<{ callback: () => void }>): void {
    for (const { callback } of waiters) {
      try {
        callback();
      } catch (error) {
        this.options.logger?.error('A whenWritten callback threw', { error: this.status.describe(error) });
      }
    }
  }
}
