/**
 * Where PTY screen mirrors parse: in one worker thread shared by every PTY of a route, so that
 * xterm's parsing (about half the gateway's CPU while a PTY streams) runs beside the event loop
 * that reads the PTYs and writes the sockets, instead of stalling them (BENCHMARKS.md, pty).
 *
 * Every answer (a chunk parsed, a snapshot) comes back through a callback, in write order per
 * mirror, exactly as the in-process mirror's callbacks do: the restore seam stays exact. If the
 * worker cannot start, mirrors parse in process; if it dies, its mirrors carry on in process
 * from an empty screen (their pending callbacks all run, so no output is held back), and the
 * error is logged.
 */
import type { Worker } from 'node:worker_threads';

import { startSiblingWorker } from '../../persistence/siblingWorker.js';
import type { Logger } from '../logger.js';
import { createScreenMirror, restoreFrame, type ScreenMirror, type ScreenMirrorOptions } from './screenMirror.js';

/** A screen mirror whose answers arrive through callbacks, in the order they were asked for. */
export interface AsyncScreenMirror {
  /** `parsed` runs once `data` (and everything before it) is parsed. */
  write(data: string, parsed?: () => void): void;
  whenParsed(fn: () => void): void;
  /** Resizes after everything written so far is parsed. */
  resize(cols: number, rows: number): void;
  /** The restore payload (see `ScreenMirror.restorePayload`) as of everything written so far. */
  snapshot(banner: string, done: (payload: string) => void): void;
  dispose(): void;
}

export interface ScreenMirrorHost {
  /** Where new mirrors parse now. */
  readonly placement: 'worker' | 'in-process';
  create(options: ScreenMirrorOptions): AsyncScreenMirror;
  /** Stops the worker; mirrors still open afterwards parse in process. */
  close(): Promise<void>;
}

/** Main thread → worker. `ack` 0: no answer wanted. */
export type MirrorRequest =
  | { op: 'create'; id: number; options: ScreenMirrorOptions }
  | { op: 'write'; id: number; data: string; ack: number }
  | { op: 'resize'; id: number; cols: number; rows: number }
  | { op: 'snapshot'; id: number; ack: number }
  | { op: 'dispose'; id: number };

/** Worker → main thread. `parsed` answers every write up to and including `ack`. */
export type MirrorReply =
  | { op: 'parsed'; id: number; ack: number }
  | { op: 'snapshot'; id: number; ack: number; state: string };

export interface ScreenMirrorHostOptions {
  logger: Logger;
  /** 'in-process' skips the worker (tests, or a host that forbids threads). Default 'worker'. */
  placement?: 'worker' | 'in-process';
  /** Starts the worker (default: `startScreenMirrorWorker`); tests keep a handle on it this way. */
  startWorker?: () => Worker;
}

/** Wraps the synchronous mirror in the callback interface. */
export function inProcessMirror(mirror: ScreenMirror): AsyncScreenMirror {
  return {
    write: (data, parsed) => mirror.write(data, parsed),
    whenParsed: (fn) => mirror.whenParsed(fn),
    resize: (cols, rows) => mirror.resize(cols, rows),
    snapshot: (banner, done) => mirror.whenParsed(() => done(mirror.restorePayload(banner))),
    dispose: () => mirror.dispose(),
  };
}

interface SnapshotWaiter {
  banner: string;
  done: (payload: string) => void;
}

interface Waiting {
  ack: number;
  parsed?: () => void;
  /** Everyone who asked while this snapshot was on its way. */
  snapshot?: SnapshotWaiter[];
}

/** One mirror living in the worker; falls back to an in-process mirror if the worker goes. */
class WorkerMirror implements AsyncScreenMirror {
  /** Answers not yet received, in request order; bounded by the PTY's flow control (one per unparsed chunk). */
  private readonly waiting: Waiting[] = [];
  private nextAck = 1;
  /**
   * Writes of this event-loop turn, posted as one message when it ends: a streaming PTY hands
   * over many small chunks per turn, and a message each cost a copy and an allocation in both
   * threads (bench: pty, CPU and RSS). Bounded like `waiting`.
   */
  private batch: string[] = [];
  private batchAck = 0;
  private batchScheduled = false;
  private cols: number;
  private rows: number;
  private fallback: AsyncScreenMirror | null = null;
  private disposed = false;

  constructor(
    readonly id: number,
    private readonly options: ScreenMirrorOptions,
    private readonly post: (request: MirrorRequest) => void,
    private readonly forget: (id: number) => void,
  ) {
    this.cols = options.cols;
    this.rows = options.rows;
    post({ op: 'create', id, options });
  }

  write(data: string, parsed?: () => void): void {
    if (this.disposed) return;
    if (this.fallback) return this.fallback.write(data, parsed);
    if (parsed) {
      const ack = this.nextAck++;
      this.waiting.push({ ack, parsed });
      this.batchAck = ack;
    }
    this.batch.push(data);
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      setImmediate(this.flushBatch);
    }
  }

  /** Posts this turn's writes; also before anything that must follow them (snapshot, resize). */
  private readonly flushBatch = (): void => {
    this.batchScheduled = false;
    if (this.batch.length === 0 || this.disposed || this.fallback) return;
    const data = this.batch.length === 1 ? this.batch[0] : this.batch.join('');
    this.post({ op: 'write', id: this.id, data, ack: this.batchAck });
    this.batch = [];
    this.batchAck = 0;
  };

  whenParsed(fn: () => void): void {
    this.write('', fn);
  }

  resize(cols: number, rows: number): void {
    if (this.disposed) return;
    this.cols = cols;
    this.rows = rows;
    if (this.fallback) return this.fallback.resize(cols, rows);
    this.flushBatch();
    this.post({ op: 'resize', id: this.id, cols, rows });
  }

  snapshot(banner: string, done: (payload: string) => void): void {
    if (this.disposed) return;
    if (this.fallback) return this.fallback.snapshot(banner, done);
    // A snapshot still on its way is as good as a new one: output after it is reported after it,
    // so whoever receives it goes live at the same point of the stream. Sharing it keeps a client
    // that re-attaches in a loop from queueing serializations in the worker.
    const pending = this.waiting.find((entry) => entry.snapshot !== undefined);
    if (pending) {
      pending.snapshot!.push({ banner, done });
      return;
    }
    const ack = this.nextAck++;
    this.waiting.push({ ack, snapshot: [{ banner, done }] });
    this.flushBatch();
    this.post({ op: 'snapshot', id: this.id, ack });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.waiting.length = 0;
    this.batch = [];
    this.forget(this.id);
    if (this.fallback) this.fallback.dispose();
    else this.post({ op: 'dispose', id: this.id });
  }

  receive(reply: MirrorReply): void {
    if (this.disposed || this.fallback) return;
    if (reply.op === 'parsed') {
      while (this.waiting.length > 0 && this.waiting[0].ack <= reply.ack && this.waiting[0].parsed) {
        this.waiting.shift()!.parsed!();
        if (this.disposed) return;
      }
      return;
    }
    const head = this.waiting[0];
    if (head?.ack === reply.ack && head.snapshot) {
      this.waiting.shift();
      for (const waiter of head.snapshot) {
        if (this.disposed) return;
        waiter.done(restoreFrame(waiter.banner, reply.state));
      }
    }
  }

  /** The worker is gone: parse here from now on, and answer everything still waiting, in order. */
  fallBack(): void {
    if (this.disposed || this.fallback) return;
    this.fallback = inProcessMirror(createScreenMirror({ ...this.options, cols: this.cols, rows: this.rows }));
    // Writes not yet posted are newer than anything lost with the worker: the new screen starts with them.
    for (const data of this.batch.splice(0)) this.fallback.write(data);
    const waiting = this.waiting.splice(0);
    for (const entry of waiting) {
      if (entry.parsed) this.fallback.whenParsed(entry.parsed);
      for (const waiter of entry.snapshot ?? []) this.fallback.snapshot(waiter.banner, waiter.done);
    }
  }
}

/**
 * The worker's young generation, sized so most chunk strings die there instead of being promoted
 * while they wait to be parsed, and no larger: it is RSS the stream brings back after an idle
 * spell (bench: pty RSS growth). In `BENCH_PEERS=none npm run bench -- pty` runs the peak growth
 * was 44.5 / 63.6 / 46.5 / 46.7 MiB at 16 MB, 51.4 / 72.1 (and 90.0 in a full run) at 32, 69.6 /
 * 45.0 at 8; but those runs predate the auth-URL detector's fix (authUrlDetector.ts), whose leak
 * on the main thread was most of that growth, so they do not separate the settings well. With the
 * fix and 16 MB, the worker's whole heap stayed at 26–30 MB through the same streams.
 */
const WORKER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 16 };

/** Starts the screen mirror's thread: its compiled file next to this one, or its TypeScript source through tsx. */
export function startScreenMirrorWorker(): Worker {
  return startSiblingWorker(import.meta.url, 'screenMirrorWorker', { resourceLimits: WORKER_RESOURCE_LIMITS });
}

export function createScreenMirrorHost(options: ScreenMirrorHostOptions): ScreenMirrorHost {
  const { logger } = options;
  const mirrors = new Map<number, WorkerMirror>();
  let nextId = 1;
  let worker: Worker | null = null;
  let placement: 'worker' | 'in-process' = options.placement ?? 'worker';

  /** Stops using the worker: every open mirror parses in process from now on. Returns the worker's termination. */
  const leaveWorker = (): Promise<number> | null => {
    const gone = worker;
    if (!gone) return null;
    worker = null;
    placement = 'in-process';
    gone.removeAllListeners();
    gone.on('error', () => {});
    for (const mirror of [...mirrors.values()]) mirror.fallBack();
    return gone.terminate();
  };

  const abandonWorker = (reason: string) => {
    const open = mirrors.size;
    const stopping = leaveWorker();
    if (stopping === null) return;
    stopping.catch(() => {});
    if (open > 0) logger.error('shell: the screen mirror worker stopped; screens are mirrored in process from now on', { reason, mirrors: open });
  };

  const ensureWorker = (): Worker | null => {
    if (worker || placement === 'in-process') return worker;
    try {
      const started = (options.startWorker ?? startScreenMirrorWorker)();
      // The worker never keeps a finished process alive.
      started.unref();
      started.on('message', (reply: MirrorReply) => mirrors.get(reply.id)?.receive(reply));
      started.on('error', (error) => abandonWorker(error.message));
      started.on('exit', (code) => abandonWorker(`exited with code ${code}`));
      worker = started;
    } catch (error) {
      placement = 'in-process';
      logger.warn('shell: no screen mirror worker; mirroring in process', { error: error instanceof Error ? error.message : String(error) });
    }
    return worker;
  };

  return {
    get placement() {
      return placement;
    },
    create(mirrorOptions) {
      const target = ensureWorker();
      if (!target) return inProcessMirror(createScreenMirror(mirrorOptions));
      const id = nextId++;
      const mirror = new WorkerMirror(
        id,
        mirrorOptions,
        (request) => worker?.postMessage(request),
        (gone) => mirrors.delete(gone),
      );
      mirrors.set(id, mirror);
      return mirror;
    },
    async close() {
      await leaveWorker();
    },
  };
}
