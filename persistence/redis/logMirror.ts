/**
 * This node's in-memory mirror of the session logs it has live actors for. Each mirrored session
 * holds one contiguous range of the log's events, oldest first: what `prepare` loaded, what the
 * stream reader brought, and this node's own appends (the newest of which may be unwritten yet).
 * `read`, `latestSeq` and `oldestSeq` of the cluster log answer from here, synchronously.
 *
 * Bounds:
 * - each session keeps its newest `tailEvents` (and every unwritten event); a `prepare` that
 *   loaded more (a subscriber far behind) keeps the extension for `MIRROR_EXTENSION_TTL_MS`, long
 *   enough for its replay, then it is trimmed back;
 * - all sessions together hold at most `MAX_MIRROR_BYTES` of event JSON: past it the least
 *   recently used sessions are trimmed to their tails first.
 *
 * `epoch` counts the times a session's range moved backwards or was dropped (a refused write
 * rolled back, the session forgotten or unwatched): a read or write started before that carries
 * the old epoch and its result is discarded rather than applied to a range it no longer matches.
 */
import { copyFromSeq } from '../seqRange.js';
import type { LoggedEvent } from '../types.js';

/** JSON bytes all mirrored sessions may hold together before the least recently used are trimmed. */
export const MAX_MIRROR_BYTES = 256 * 1024 * 1024;
/** How long events a `prepare` loaded beyond a session's tail stay mirrored. */
export const MIRROR_EXTENSION_TTL_MS = 60_000;
/** Dead slots at the front of a session's array before it is compacted (eviction stays amortised O(1)). */
const COMPACT_MIN_SLOTS = 64;

/** An appended event waiting for the backend's acknowledgement. */
export interface QueuedEvent {
  event: LoggedEvent;
  /** UTF-8 bytes of its JSON. */
  bytes: number;
  /** Position among every event appended on this node, for `whenWritten`. */
  ordinal: number;
}

export class MirroredSession {
  private events: LoggedEvent[] = [];
  private sizes: number[] = [];
  private head = 0;
  /** JSON bytes of the mirrored events. */
  bytes = 0;
  /** Highest seq this node knows of: the backend's latest, or its own newest append. */
  latestSeq = 0;
  /** Highest seq known to be in the backend (loaded, read, or acknowledged). */
  writtenSeq = 0;
  /** The backend's oldest retained seq (exact after a load or a write, estimated from the bounds in between). */
  backendOldestSeq = 0;
  /** A `prepare` loaded the session's bounds from the backend. */
  loaded = false;
  /** The stream reader follows it (a live actor here). */
  watched = false;
  /** Until when (epoch ms) events beyond the tail are kept; 0: no extension. */
  extendedUntil = 0;
  epoch = 0;
  /** This node's unwritten events, oldest first: always the newest entries of the range. */
  pending: QueuedEvent[] = [];

  constructor(readonly sessionId: string) {}

  get length(): number {
    return this.events.length - this.head;
  }

  /** Seq of the oldest mirrored event, 0 when none. */
  firstSeq(): number {
    return this.head < this.events.length ? this.events[this.head].seq : 0;
  }

  /** Seq of the newest mirrored event, 0 when none. */
  lastSeq(): number {
    return this.head < this.events.length ? this.events[this.events.length - 1].seq : 0;
  }

  /** The oldest retained seq as the log reports it (0 when nothing is retained anywhere). */
  oldestSeq(): number {
    if (this.backendOldestSeq > 0) return this.backendOldestSeq;
    return this.firstSeq();
  }

  /** Events with `seq > afterSeq`, ascending, at most `limit`. */
  read(afterSeq: number, limit: number): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    copyFromSeq(this.events, this.head, afterSeq + 1, limit, out);
    return out;
  }

  /** Whether every retained event after `afterSeq` is mirrored (a `prepare` need not load). */
  covers(afterSeq: number): boolean {
    if (!this.loaded) return false;
    if (afterSeq >= this.writtenSeq) return true;
    if (this.length === 0) return false;
    return this.firstSeq() <= Math.max(afterSeq + 1, this.backendOldestSeq);
  }

  /** Appends the newest event; returns its bytes. */
  push(event: LoggedEvent, bytes: number): void {
    this.events.push(event);
    this.sizes.push(bytes);
    this.bytes += bytes;
    if (event.seq > this.latestSeq) this.latestSeq = event.seq;
  }

  /** Evicts the oldest events beyond `keep` (never an unwritten one); returns the bytes freed. */
  trimTo(keep: number): number {
    const excess = this.length - Math.max(keep, this.pending.length);
    return excess > 0 ? this.evict(excess) : 0;
  }

  /** Evicts events older than `seq` (pruned from the backend), never an unwritten one; returns the bytes freed. */
  dropBefore(seq: number): number {
    const evictable = this.length - this.pending.length;
    let n = 0;
    while (n < evictable && this.events[this.head + n].seq < seq) n++;
    return n > 0 ? this.evict(n) : 0;
  }

  /**
   * Drops the events after `writtenSeq` (unwritten ones the backend refused or that were given up
   * on) so the mirror is the backend's log again; returns the bytes freed.
   */
  rollBack(): number {
    let freed = 0;
    while (this.events.length > this.head && this.events[this.events.length - 1].seq > this.writtenSeq) {
      this.events.pop();
      freed += this.sizes.pop() ?? 0;
    }
    this.bytes -= freed;
    this.latestSeq = this.writtenSeq;
    this.pending = [];
    this.epoch++;
    return freed;
  }

  /** Forgets every event (the range restarts; the caller sets the seqs); returns the bytes freed. */
  clear(): number {
    const freed = this.bytes;
    this.events = [];
    this.sizes = [];
    this.head = 0;
    this.bytes = 0;
    return freed;
  }

  /** Puts `older` (ascending, each below the current first seq) in front of the range; returns the bytes added. */
  prepend(older: readonly LoggedEvent[], sizes: readonly number[]): number {
    if (older.length === 0) return 0;
    let added = 0;
    for (const size of sizes) added += size;
    this.events = [...older, ...this.events.slice(this.head)];
    this.sizes = [...sizes, ...this.sizes.slice(this.head)];
    this.head = 0;
    this.bytes += added;
    return added;
  }

  /** Size of the mirrored event at `offset` from the oldest (for the bounds estimate). */
  sizeAt(offset: number): number {
    return this.sizes[this.head + offset];
  }

  seqAt(offset: number): number {
    return this.events[this.head + offset].seq;
  }

  private evict(n: number): number {
    let freed = 0;
    for (let i = this.head; i < this.head + n; i++) freed += this.sizes[i];
    this.head += n;
    this.bytes -= freed;
    if (this.head >= COMPACT_MIN_SLOTS && this.head * 2 >= this.events.length) {
      this.events = this.events.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
    return freed;
  }
}

export interface LogMirrorOptions {
  tailEvents: number;
  /** The backend's per-session bounds, to estimate its oldest retained seq between loads. */
  maxEventsPerSession: number;
  maxBytesPerSession: number;
  /** Total JSON bytes of all sessions (default `MAX_MIRROR_BYTES`; smaller in tests). */
  maxBytes?: number;
  now?: () => number;
}

/** What a `prepare` read from the backend in one step. */
export interface LoadedLog {
  latestSeq: number;
  oldestSeq: number;
  events: LoggedEvent[];
}

export class LogMirror {
  /** In least recently used order: a use moves a session to the end. */
  private readonly sessions = new Map<string, MirroredSession>();
  private totalBytes = 0;
  private readonly now: () => number;
  private readonly maxBytes: number;

  constructor(private readonly options: LogMirrorOptions) {
    this.now = options.now ?? Date.now;
    this.maxBytes = options.maxBytes ?? MAX_MIRROR_BYTES;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get size(): number {
    return this.sessions.size;
  }

  get(sessionId: string): MirroredSession | undefined {
    return this.sessions.get(sessionId);
  }

  getOrCreate(sessionId: string): MirroredSession {
    let session = this.sessions.get(sessionId);
    if (session === undefined) {
      session = new MirroredSession(sessionId);
      this.sessions.set(sessionId, session);
    }
    return session;
  }

  watched(): MirroredSession[] {
    const out: MirroredSession[] = [];
    for (const session of this.sessions.values()) if (session.watched) out.push(session);
    return out;
  }

  /** Marks a use: the session becomes the most recently used. */
  touch(session: MirroredSession): void {
    if (this.sessions.get(session.sessionId) !== session) return;
    this.sessions.delete(session.sessionId);
    this.sessions.set(session.sessionId, session);
  }

  /** This node's own append (unwritten until the writer's acknowledgement). */
  addOwn(session: MirroredSession, queued: QueuedEvent): void {
    session.push(queued.event, queued.bytes);
    session.pending.push(queued);
    this.totalBytes += queued.bytes;
    this.trimToTail(session);
    this.enforceBound();
  }

  /** The backend acknowledged the oldest `count` pending events; `oldestSeq` is its oldest retained now. */
  acknowledge(session: MirroredSession, count: number, oldestSeq: number): void {
    const acked = session.pending.splice(0, count);
    const last = acked[acked.length - 1];
    if (last !== undefined && last.event.seq > session.writtenSeq) session.writtenSeq = last.event.seq;
    if (oldestSeq > 0) {
      session.backendOldestSeq = oldestSeq;
      this.totalBytes -= session.dropBefore(oldestSeq);
    }
    this.trimToTail(session);
  }

  /**
   * Events another node wrote, ascending, all newer than `latestSeq`. A first seq beyond
   * `latestSeq + 1` means the events between were pruned before this node read them: the range
   * restarts there (a `read` shows the gap by its first seq).
   */
  addRemote(session: MirroredSession, events: readonly LoggedEvent[], sizes: readonly number[]): void {
    if (events.length === 0) return;
    if (events[0].seq > session.latestSeq + 1 && session.pending.length === 0) {
      this.totalBytes -= session.clear();
      session.backendOldestSeq = Math.max(session.backendOldestSeq, events[0].seq);
    }
    // A log that was empty retains its first event until pruning reaches it.
    if (session.backendOldestSeq === 0) session.backendOldestSeq = events[0].seq;
    for (let i = 0; i < events.length; i++) {
      session.push(events[i], sizes[i]);
      this.totalBytes += sizes[i];
    }
    session.writtenSeq = Math.max(session.writtenSeq, session.latestSeq);
    this.estimateOldest(session);
    this.trimToTail(session);
    this.enforceBound();
  }

  /**
   * Merges a load into the session: the loaded events go in front of what the mirror holds
   * already (the reader or this node's appends may have added newer ones meanwhile).
   */
  load(session: MirroredSession, loaded: LoadedLog, afterSeq: number): void {
    session.backendOldestSeq = Math.max(session.backendOldestSeq, loaded.oldestSeq);
    session.loaded = true;
    const first = session.firstSeq();
    const { events } = loaded;
    // The loaded events must reach the mirrored range (or, with none mirrored, the latest seq);
    // a load that does not (the range restarted after a gap meanwhile) is left out, so the range
    // stays contiguous. Only what is older than the mirror's first event is added.
    const reachesUpTo = session.length > 0 ? first - 1 : Math.max(session.latestSeq, loaded.latestSeq);
    if (events.length > 0 && events[events.length - 1].seq >= reachesUpTo) {
      const older: LoggedEvent[] = [];
      const sizes: number[] = [];
      for (const event of events) {
        if (session.length > 0 && event.seq >= first) break;
        older.push(event);
        sizes.push(Buffer.byteLength(event.json, 'utf8'));
      }
      this.totalBytes += session.prepend(older, sizes);
    }
    // The seqs move only as far as the mirror now holds. Events newer than its newest one (the
    // stream reader has not delivered them yet) are the reader's to bring, with the hook that
    // tells the session actor: it reads after `latestSeq` and drops anything not newer, so a
    // `latestSeq` moved past them here would lose them for good.
    const known = session.length > 0 ? Math.min(loaded.latestSeq, session.lastSeq()) : loaded.latestSeq;
    session.latestSeq = Math.max(session.latestSeq, known);
    session.writtenSeq = Math.max(session.writtenSeq, known);
    if (session.backendOldestSeq > 0) this.totalBytes -= session.dropBefore(session.backendOldestSeq);
    const requested = session.latestSeq - afterSeq;
    if (requested > this.options.tailEvents) session.extendedUntil = this.now() + MIRROR_EXTENSION_TTL_MS;
    this.trimToTail(session);
    this.touch(session);
    this.enforceBound();
  }

  /** Keeps a `prepare`'s extension for another TTL (a replay is reading it). */
  extend(session: MirroredSession, afterSeq: number): void {
    if (session.latestSeq - afterSeq > this.options.tailEvents) session.extendedUntil = this.now() + MIRROR_EXTENSION_TTL_MS;
  }

  /** Drops this node's unwritten events of the session (refused or given up); returns how many. */
  rollBack(session: MirroredSession): number {
    const dropped = session.pending.length;
    this.totalBytes -= session.rollBack();
    return dropped;
  }

  /** The session's log was deleted: empty range, seqs back to 0. */
  reset(session: MirroredSession): void {
    this.totalBytes -= session.clear();
    session.pending = [];
    session.latestSeq = 0;
    session.writtenSeq = 0;
    session.backendOldestSeq = 0;
    session.extendedUntil = 0;
    session.epoch++;
  }

  delete(session: MirroredSession): void {
    if (this.sessions.get(session.sessionId) !== session) return;
    this.sessions.delete(session.sessionId);
    this.totalBytes -= session.clear();
    session.epoch++;
  }

  /** Trims the sessions whose extension expired back to their tails. */
  sweepExtensions(): void {
    const now = this.now();
    for (const session of this.sessions.values()) {
      if (session.extendedUntil === 0 || session.extendedUntil > now) continue;
      session.extendedUntil = 0;
      this.totalBytes -= session.trimTo(this.options.tailEvents);
    }
  }

  private trimToTail(session: MirroredSession): void {
    if (session.extendedUntil !== 0) return;
    this.totalBytes -= session.trimTo(this.options.tailEvents);
  }

  /**
   * Past the byte bound: the least recently used sessions are trimmed to their tails first (their
   * extensions end). Tails and unwritten events stay, so the bound can be exceeded by at most
   * `tailEvents` per watched session plus the unwritten backlog, both bounded elsewhere.
   */
  private enforceBound(): void {
    if (this.totalBytes <= this.maxBytes) return;
    for (const session of this.sessions.values()) {
      session.extendedUntil = 0;
      this.totalBytes -= session.trimTo(this.options.tailEvents);
      if (this.totalBytes <= this.maxBytes) return;
    }
  }

  /**
   * After another node's write: the backend pruned to its bounds. While the mirror holds the
   * whole retained range the same rule gives the exact oldest seq; otherwise only the event bound
   * is known (a later load or own write makes it exact).
   */
  private estimateOldest(session: MirroredSession): void {
    const { maxEventsPerSession, maxBytesPerSession } = this.options;
    this.totalBytes -= session.dropBefore(session.backendOldestSeq);
    if (session.backendOldestSeq > 0 && session.firstSeq() === session.backendOldestSeq) {
      let count = session.length;
      let bytes = session.bytes;
      let offset = 0;
      while (count > 1 && (count > maxEventsPerSession || bytes > maxBytesPerSession)) {
        bytes -= session.sizeAt(offset);
        count--;
        offset++;
      }
      if (offset > 0) session.backendOldestSeq = session.seqAt(offset);
    } else {
      session.backendOldestSeq = Math.max(session.backendOldestSeq, session.latestSeq - maxEventsPerSession + 1);
    }
    this.totalBytes -= session.dropBefore(session.backendOldestSeq);
  }
}
