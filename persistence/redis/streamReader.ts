/**
 * The node's one stream reader: a loop on its own connection,
 * `XREAD COUNT n BLOCK 5000 STREAMS <watched logs> <each mirror's latest id>`, handing what it
 * reads to the log (`deliver`), which skips what the mirror holds already (this node's own
 * appends come back here too) and delivers the rest once.
 *
 * Each pass reads after the mirrors' latest ids as they are at that moment, so a reconnect, a
 * timeout or an error loses nothing and repeats nothing: the next pass starts where the mirrors
 * are. When the watched set changes, the blocked XREAD is cut short with `CLIENT UNBLOCK` (sent
 * on the command connection) so the next pass includes the change at once; an UNBLOCK that
 * arrives before the XREAD does is retried briefly.
 *
 * A watchdog drops the connection (ioredis reconnects it) when an XREAD outlives its BLOCK time
 * by `READ_WATCHDOG_SLACK_MS`: a peer that vanished without a reset must not stall the reader.
 */
import type { Redis } from 'ioredis';

import type { LoggedEvent, PersistenceLogger } from '../types.js';
import { parseStreamEntries, streamIdAfter } from './streamEntries.js';

/** How long one XREAD blocks in Redis. */
export const READ_BLOCK_MS = 5_000;
/** Entries per stream one XREAD returns at most. */
export const READ_COUNT = 1_000;
/** An XREAD without a reply this long past its BLOCK time means the connection is dead. */
export const READ_WATCHDOG_SLACK_MS = 5_000;
/** Pause before retrying an UNBLOCK that found the reader not blocked yet, and how often. */
const UNBLOCK_RETRY_MS = 10;
const UNBLOCK_MAX_ATTEMPTS = 50;
/** Pause after a pass whose events the log could not take yet (it is settling its own write). */
const DEFERRED_PAUSE_MS = 20;
/** Backoff after a failed pass: from this, doubling… */
const FAILURE_PAUSE_MIN_MS = 50;
/** …up to this (ioredis reconnects meanwhile; 'ready' ends the pause early). */
const FAILURE_PAUSE_MAX_MS = 2_000;

/** One watched session as a pass reads it. */
export interface ReadTarget {
  sessionId: string;
  key: string;
  /** The mirror's latest seq: the pass reads after it. */
  afterSeq: number;
  /** The mirror's epoch: a delivery for an older one is discarded. */
  epoch: number;
}

export interface StreamReaderSource {
  targets(): ReadTarget[];
  /** Takes a stream's new entries; false when the log cannot take them yet (read them again soon). */
  deliver(target: ReadTarget, events: LoggedEvent[]): boolean;
}

export class StreamReader {
  private version = 0;
  private readingVersion = -1;
  private blocked = false;
  private unblocking = false;
  private clientId: number | null = null;
  private closed = false;
  private wake: (() => void) | null = null;
  private done: Promise<void> = Promise.resolve();
  private failingLogged = false;

  constructor(
    private readonly connection: Redis,
    private readonly command: Redis,
    private readonly source: StreamReaderSource,
    private readonly describe: (error: unknown) => string,
    private readonly logger?: PersistenceLogger,
  ) {}

  start(): void {
    // A new connection is a new client id; the old one must not be unblocked by mistake.
    this.connection.on('close', this.onClose);
    this.connection.on('ready', this.onReady);
    this.done = this.loop();
  }

  /** The watched set (or a mirror's position) changed: the next pass must see it now. */
  changed(): void {
    this.version++;
    this.wakeUp();
    this.unblock();
  }

  /** Stops the loop; resolves once it has returned (the connection is closed by the caller). */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeUp();
    this.connection.off('close', this.onClose);
    this.connection.off('ready', this.onReady);
    if (this.blocked && this.clientId !== null) await this.command.call('CLIENT', 'UNBLOCK', this.clientId).catch(() => undefined);
  }

  /** Resolves when the loop has ended (after `close`, once its last XREAD returned or failed). */
  finished(): Promise<void> {
    return this.done;
  }

  private readonly onClose = (): void => {
    this.clientId = null;
  };

  private readonly onReady = (): void => {
    this.wakeUp();
  };

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      if (this.source.targets().length === 0) {
        await this.pause(null);
        continue;
      }
      if (this.connection.status !== 'ready') {
        await this.pause(FAILURE_PAUSE_MAX_MS);
        continue;
      }
      try {
        if (this.clientId === null) this.clientId = Number(await this.connection.call('CLIENT', 'ID'));
        // Taken in the same turn as the XREAD is sent, so a change after it is always a newer version.
        const targets = this.source.targets();
        if (targets.length === 0) continue;
        const byKey = new Map<string, ReadTarget>();
        for (const target of targets) byKey.set(target.key, target);
        const args: Array<string | number> = ['COUNT', READ_COUNT, 'BLOCK', READ_BLOCK_MS, 'STREAMS'];
        for (const target of targets) args.push(target.key);
        for (const target of targets) args.push(streamIdAfter(target.afterSeq));
        this.readingVersion = this.version;
        this.blocked = true;
        const reply = await this.watched(this.connection.call('XREAD', args));
        this.blocked = false;
        failures = 0;
        if (this.failingLogged) {
          this.failingLogged = false;
          this.logger?.warn('Cluster stream reader reads again', {});
        }
        if (this.closed || !Array.isArray(reply)) continue;
        let deferred = false;
        for (const stream of reply as unknown[]) {
          if (!Array.isArray(stream) || stream.length < 2) continue;
          const target = byKey.get(String(stream[0]));
          if (target === undefined) continue;
          const events = parseStreamEntries(target.sessionId, stream[1]);
          if (events.length > 0 && !this.source.deliver(target, events)) deferred = true;
        }
        if (deferred) await this.pause(DEFERRED_PAUSE_MS);
      } catch (error) {
        this.blocked = false;
        if (this.closed) break;
        failures++;
        if (!this.failingLogged) {
          this.failingLogged = true;
          this.logger?.error('Cluster stream reader failed; it retries', { error: this.describe(error) });
        }
        await this.pause(Math.min(FAILURE_PAUSE_MIN_MS * 2 ** Math.min(failures - 1, 16), FAILURE_PAUSE_MAX_MS));
      }
    }
  }

  /** The XREAD, or a dropped connection once it outlived its BLOCK time by the slack. */
  private async watched<T>(read: Promise<T>): Promise<T> {
    const timer = setTimeout(() => {
      this.logger?.warn('Cluster stream reader got no reply in time; reconnecting', {});
      this.connection.disconnect(true);
    }, READ_BLOCK_MS + READ_WATCHDOG_SLACK_MS);
    try {
      return await read;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits `ms` (null: until a change), or less when woken. */
  private pause(ms: number | null): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const wake = () => {
        if (timer !== null) clearTimeout(timer);
        if (this.wake === wake) this.wake = null;
        resolve();
      };
      if (ms !== null) timer = setTimeout(wake, ms);
      this.wake = wake;
    });
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /**
   * Cuts short an XREAD that reads a stale watched set. One attempt at a time; after each reply it
   * looks again, since the pass that follows may have started before a later change: it stops once
   * no stale XREAD is blocked (or after `UNBLOCK_MAX_ATTEMPTS` misses in a row: the BLOCK time
   * bounds the staleness anyway).
   */
  private unblock(): void {
    if (this.unblocking) return;
    this.unblocking = true;
    let misses = 0;
    const attempt = () => {
      const id = this.clientId;
      if (this.closed || !this.blocked || this.readingVersion === this.version || id === null || misses >= UNBLOCK_MAX_ATTEMPTS) {
        this.unblocking = false;
        return;
      }
      this.command.call('CLIENT', 'UNBLOCK', id).then(
        (unblocked) => {
          // 0: our XREAD has not reached Redis yet, or has just returned.
          if (Number(unblocked) === 1) misses = 0;
          else misses++;
          setTimeout(attempt, misses === 0 ? 0 : UNBLOCK_RETRY_MS).unref();
        },
        () => {
          this.unblocking = false;
        },
      );
    };
    attempt();
  }
}
