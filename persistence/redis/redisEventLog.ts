/**
 * The chat event log on Redis (`ClusterEventLog`): the facade over one owner per concern.
 *
 * | concern | file |
 * |---|---|
 * | the mirrored range of each watched session, its bounds | `logMirror.ts` |
 * | writing appends: batches, fencing, retries, backlog, `whenWritten` | `appendWriter.ts` |
 * | other nodes' events: the blocking XREAD loop | `streamReader.ts` |
 * | the Lua of each atomic step | `scripts.ts` |
 *
 * `append`, `read`, `latestSeq` and `oldestSeq` only touch memory. Another node's events reach
 * this node through the reader (or `sync`) and are delivered to `onRemoteEvents` once, in seq
 * order: a delivery keeps only events above the mirror's latest seq, and the mirror moves up
 * before the hook runs, so the reader and `sync` can never both deliver one event.
 */
import type { Redis } from 'ioredis';

import { assertLoggedEvent } from '../loggedEvent.js';
import type { ClusterEventLog, ClusterEventLogHooks } from '../cluster/types.js';
import type { EventLogHealth, LoggedEvent, PersistenceLogger, RunRecord } from '../types.js';
import { AppendWriter } from './appendWriter.js';
import type { RedisKeys } from './keys.js';
import { LogMirror, type LoadedLog, type MirroredSession, type QueuedEvent } from './logMirror.js';
import type { ConnectionStatus } from './redisConnections.js';
import type { RedisScripts } from './scripts.js';
import { parseStreamEntries } from './streamEntries.js';
import { StreamReader, type ReadTarget, type StreamReaderSource } from './streamReader.js';

/** How often mirrors whose `prepare` extension expired are trimmed back to their tails. */
export const MIRROR_SWEEP_INTERVAL_MS = 5_000;
/** `close()` (the synchronous one of `ChatEventLog`) gives the last writes this long. */
export const CLOSE_FLUSH_TIMEOUT_MS = 2_000;
/** `sync` reads again when the mirror moved under it, at most this often. */
const SYNC_ATTEMPTS = 3;
/** Loads a `fill` tries before it lets the caller see a gap. */
const FILL_ATTEMPTS = 3;

const CLOSED_MESSAGE = 'The cluster event log is closed';

export interface RedisEventLogOptions {
  maxEventsPerSession: number;
  maxBytesPerSession: number;
  tailEvents: number;
  logger?: PersistenceLogger;
  /** A batch with a run's `complete` was acknowledged (the run's lease is gone in Redis). */
  onRunCompleted(sessionId: string, runId: string): void;
}

export interface RedisEventLogParts {
  command: Redis;
  reader: Redis;
  scripts: RedisScripts;
  keys: RedisKeys;
  status: ConnectionStatus;
}

function seqArgument(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be an integer >= 0, got ${String(value)}`);
  return value;
}

export class RedisEventLog implements ClusterEventLog {
  private hooks: ClusterEventLogHooks;
  private readonly mirror: LogMirror;
  private readonly writer: AppendWriter;
  private readonly reader: StreamReader;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly parts: RedisEventLogParts,
    private readonly options: RedisEventLogOptions,
  ) {
    const { logger } = options;
    this.hooks = {
      onRemoteEvents: () => undefined,
      onAppendRefused: (sessionId, reason) => logger?.warn('Appended events refused before hooks were set', { sessionId, reason }),
      fenceOf: () => null,
    };
    this.mirror = new LogMirror(options);
    this.writer = new AppendWriter(parts.command, parts.scripts, parts.keys, this.mirror, parts.status, options, {
      fenceOf: (sessionId) => this.hooks.fenceOf(sessionId),
      onAppendRefused: (sessionId, reason) => this.hooks.onAppendRefused(sessionId, reason),
      onRunCompleted: (sessionId, runId) => options.onRunCompleted(sessionId, runId),
      onSettled: (session) => this.releaseIfIdle(session),
      // The mirror's latest seq moved back: the reader must read from there, not from before.
      onRolledBack: (session) => {
        if (session.watched) this.reader.changed();
      },
    });
    this.reader = new StreamReader(parts.reader, parts.command, this.readerSource, (error) => parts.status.describe(error), logger);
    this.reader.start();
    this.sweepTimer = setInterval(() => this.mirror.sweepExtensions(), MIRROR_SWEEP_INTERVAL_MS);
    this.sweepTimer.unref();
  }

  setHooks(hooks: ClusterEventLogHooks): void {
    this.hooks = hooks;
  }

  // ---- events ----

  append(event: LoggedEvent): void {
    if (this.closed) throw new Error(CLOSED_MESSAGE);
    assertLoggedEvent(event);
    const session = this.mirror.getOrCreate(event.sessionId);
    const { seq } = event;
    if (!Number.isSafeInteger(seq) || seq <= session.latestSeq) {
      throw new RangeError(`Event seq ${String(seq)} of session ${event.sessionId} must be an integer above ${session.latestSeq}`);
    }
    const entry: QueuedEvent = { event, bytes: Buffer.byteLength(event.json, 'utf8'), ordinal: this.writer.takeOrdinal() };
    this.mirror.addOwn(session, entry);
    this.writer.enqueue(session, entry);
  }

  read(sessionId: string, afterSeq: number, limit: number): LoggedEvent[] {
    const session = this.mirror.get(sessionId);
    if (session === undefined || limit <= 0) return [];
    this.mirror.touch(session);
    return session.read(afterSeq, limit);
  }

  latestSeq(sessionId: string): number {
    return this.mirror.get(sessionId)?.latestSeq ?? 0;
  }

  oldestSeq(sessionId: string): number {
    return this.mirror.get(sessionId)?.oldestSeq() ?? 0;
  }

  // The run record belongs to the lease (runLeases.ts); the sweep replaces start-up recovery.
  runStarted(_run: RunRecord): void {}

  runCompleted(_runId: string, _result: { exitCode: number; aborted: boolean; completedAt: number }): void {}

  unfinishedRuns(): RunRecord[] {
    return [];
  }

  flush(): void {
    this.writer.flushNow();
  }

  whenWritten(callback: () => void): void {
    this.writer.whenWritten(callback);
  }

  health(): Required<EventLogHealth> {
    return this.writer.health();
  }

  release(sessionId: string): boolean {
    const session = this.mirror.get(sessionId);
    if (session === undefined) return true;
    if (session.pending.length > 0) return false;
    this.unwatch(sessionId);
    return true;
  }

  close(): void {
    void this.closeAsync(CLOSE_FLUSH_TIMEOUT_MS);
  }

  /** Writes what it can within `timeoutMs`, then stops the reader (the caller closes the connections). */
  async closeAsync(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.writer.drain(Date.now() + timeoutMs);
    await this.reader.close();
  }

  /** Resolves once the reader's loop returned (after `closeAsync` and the reader connection's end). */
  readerFinished(): Promise<void> {
    return this.reader.finished();
  }

  // ---- the mirror ----

  async prepare(sessionId: string, afterSeq: number): Promise<void> {
    if (this.closed) throw new Error(CLOSED_MESSAGE);
    seqArgument('afterSeq', afterSeq);
    const existing = this.mirror.get(sessionId);
    if (existing !== undefined && existing.covers(afterSeq)) {
      this.mirror.extend(existing, afterSeq);
      this.mirror.touch(existing);
      this.watch(existing);
      return;
    }
    const loaded = await this.snapshot(sessionId, afterSeq + 1, this.options.maxEventsPerSession);
    if (this.closed) return;
    const session = this.mirror.getOrCreate(sessionId);
    this.mirror.load(session, loaded, afterSeq);
    this.watch(session);
  }

  /**
   * A lagging socket's catch-up reaches below the mirror: load the range (kept for the extension
   * time). A load that the mirror's trimming outran meanwhile (a fast run, a small tail) is left
   * out to keep the range contiguous; by then the extension holds the trimming, so it is tried again.
   */
  async fill(sessionId: string, afterSeq: number): Promise<void> {
    for (let attempt = 0; attempt < FILL_ATTEMPTS; attempt++) {
      await this.prepare(sessionId, afterSeq);
      const [next] = this.read(sessionId, afterSeq, 1);
      const reached = next !== undefined && next.seq === afterSeq + 1;
      const pruned = this.oldestSeq(sessionId) > afterSeq + 1;
      if (reached || pruned || this.latestSeq(sessionId) <= afterSeq) return;
    }
  }

  async sync(sessionId: string): Promise<void> {
    for (let attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
      const session = this.mirror.get(sessionId);
      if (session === undefined || this.closed) return;
      const { epoch, latestSeq } = session;
      const key = this.parts.keys.log(sessionId);
      const raw = await this.command('XRANGE', key, `${latestSeq + 1}-0`, '+', 'COUNT', this.options.maxEventsPerSession);
      if (this.mirror.get(sessionId) !== session) return;
      if (session.epoch !== epoch) continue;
      this.deliver({ sessionId, key, afterSeq: latestSeq, epoch }, parseStreamEntries(sessionId, raw));
      return;
    }
  }

  unwatch(sessionId: string): void {
    const session = this.mirror.get(sessionId);
    if (session === undefined) return;
    if (session.watched) {
      session.watched = false;
      this.reader.changed();
    }
    this.releaseIfIdle(session);
  }

  // ---- the backend directly ----

  async readHistory(sessionId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]> {
    seqArgument('afterSeq', afterSeq);
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${String(limit)}`);
    const count = Math.min(limit, this.options.maxEventsPerSession);
    const raw = await this.command('XRANGE', this.parts.keys.log(sessionId), `${afterSeq + 1}-0`, '+', 'COUNT', count);
    return parseStreamEntries(sessionId, raw);
  }

  async seqBounds(sessionId: string): Promise<{ latestSeq: number; oldestSeq: number }> {
    const { latestSeq, oldestSeq } = await this.snapshot(sessionId, 1, 0);
    return { latestSeq, oldestSeq };
  }

  async forgetSessionAsync(sessionId: string): Promise<void> {
    const session = this.mirror.get(sessionId);
    if (session !== undefined) {
      this.writer.discard(session);
      this.mirror.reset(session);
      if (session.watched) this.reader.changed();
    }
    const { keys } = this.parts;
    await this.command('DEL', keys.log(sessionId), keys.meta(sessionId));
  }

  // ---- internals ----

  private readonly readerSource: StreamReaderSource = {
    targets: () =>
      this.mirror.watched().map((session) => ({
        sessionId: session.sessionId,
        key: this.parts.keys.log(session.sessionId),
        afterSeq: session.latestSeq,
        epoch: session.epoch,
      })),
    deliver: (target, events) => this.deliver(target, events),
  };

  /** Other nodes' events into the mirror, then to the hook; false while own unwritten events are in the way. */
  private deliver(target: ReadTarget, events: readonly LoggedEvent[]): boolean {
    const session = this.mirror.get(target.sessionId);
    if (session === undefined || session.epoch !== target.epoch || !session.watched) return true;
    const fresh = events.filter((event) => event.seq > session.latestSeq);
    if (fresh.length === 0) return true;
    // Another writer wrote past this node's unwritten events: this node's write will be refused
    // and rolled back; the events are read again after that.
    if (session.pending.length > 0) return false;
    const sizes = fresh.map((event) => Buffer.byteLength(event.json, 'utf8'));
    this.mirror.addRemote(session, fresh, sizes);
    try {
      this.hooks.onRemoteEvents(target.sessionId, fresh);
    } catch (error) {
      this.options.logger?.error('onRemoteEvents threw', { sessionId: target.sessionId, error: this.parts.status.describe(error) });
    }
    return true;
  }

  private watch(session: MirroredSession): void {
    if (session.watched) return;
    session.watched = true;
    this.reader.changed();
  }

  /** A session nobody watches leaves the mirror once its own events are written. */
  private releaseIfIdle(session: MirroredSession): void {
    if (!session.watched && session.pending.length === 0) this.mirror.delete(session);
  }

  private async snapshot(sessionId: string, fromSeq: number, count: number): Promise<LoadedLog> {
    const { keys, scripts, status } = this.parts;
    let raw: unknown;
    try {
      raw = await scripts.run('agSnapshot', [keys.meta(sessionId), keys.log(sessionId)], [fromSeq, count]);
    } catch (error) {
      status.noteFailure(error);
      throw error;
    }
    status.noteSuccess();
    const [latest, oldest, entries] = Array.isArray(raw) ? (raw as unknown[]) : [];
    return {
      latestSeq: Number(latest ?? 0) || 0,
      oldestSeq: Number(oldest ?? 0) || 0,
      events: parseStreamEntries(sessionId, entries),
    };
  }

  private async command(name: string, ...args: Array<string | number>): Promise<unknown> {
    const { command, status } = this.parts;
    try {
      const reply = await command.call(name, args);
      status.noteSuccess();
      return reply;
    } catch (error) {
      status.noteFailure(error);
      throw error;
    }
  }
}
