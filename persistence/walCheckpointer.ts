/**
 * Checkpoints of the event log's SQLite file, off the event loop: the main connection has
 * SQLite's auto-checkpoint off, and a worker thread (`walCheckpointWorker.ts`) with its own
 * connection copies the WAL into the main file every `WAL_CHECKPOINT_INTERVAL_MS`. Bounded: should
 * the worker stall or die, the WAL is measured every `WAL_CHECK_EVERY_COMMITS` commits and, past
 * `WAL_EMERGENCY_BYTES`, the main connection checkpoints itself (as SQLite would have); a worker
 * that cannot start or exits leaves the main connection with SQLite's auto-checkpoint back on.
 */
import { statSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';

import type { Database as SqliteDatabase } from 'better-sqlite3';

import { startSiblingWorker } from './siblingWorker.js';
import type { PersistenceLogger } from './types.js';
import type { WalCheckpointReport, WalCheckpointWorkerData } from './walCheckpointWorker.js';

/** How often the worker checkpoints: the WAL stays a few hundred KiB at a token stream's rate. */
export const WAL_CHECKPOINT_INTERVAL_MS = 250;
/** Past this WAL size the main connection checkpoints itself (the worker is stalled or gone). */
export const WAL_EMERGENCY_BYTES = 64 * 1024 * 1024;
/** Commits between two measurements of the WAL's size (one `stat` each). */
export const WAL_CHECK_EVERY_COMMITS = 256;

export interface WalCheckpointer {
  /** The log committed a batch. */
  afterCommit(): void;
  /**
   * Stops the worker: it copies once more and closes its connection. Resolves once its thread has
   * exited (bounded by `WAL_STOP_TIMEOUT_MS`), so the caller may remove the files.
   */
  stop(): Promise<void>;
}

/** How long `stop()` waits for the thread to finish its last checkpoint and exit. */
export const WAL_STOP_TIMEOUT_MS = 5000;

export interface WalCheckpointerOptions {
  sqlite: SqliteDatabase;
  path: string;
  /** SQLite's own auto-checkpoint pages, restored on the main connection if the worker is gone. */
  fallbackAutocheckpointPages: number;
  busyTimeoutMs: number;
  logger?: PersistenceLogger;
}

export function startWalCheckpointer(options: WalCheckpointerOptions): WalCheckpointer {
  const { sqlite, path, logger } = options;
  let worker: Worker | null = null;
  let commits = 0;
  let stopped = false;

  const fallBack = (reason: string) => {
    if (worker === null || stopped) return;
    worker = null;
    logger?.warn('The WAL checkpoint thread is gone: SQLite checkpoints on the event loop again', { reason });
    if (sqlite.open) sqlite.pragma(`wal_autocheckpoint = ${options.fallbackAutocheckpointPages}`);
  };

  try {
    const workerData: WalCheckpointWorkerData = { path, intervalMs: WAL_CHECKPOINT_INTERVAL_MS, busyTimeoutMs: options.busyTimeoutMs };
    worker = startSiblingWorker(import.meta.url, 'walCheckpointWorker', { workerData });
  } catch (error) {
    logger?.warn('Could not start the WAL checkpoint thread: SQLite checkpoints on the event loop', { error: String(error) });
    return { afterCommit: () => undefined, stop: () => Promise.resolve() };
  }
  const started = worker;
  const exited = new Promise<void>((resolve) => started.once('exit', () => resolve()));
  sqlite.pragma('wal_autocheckpoint = 0');
  // The checkpoints must not keep a process alive that has nothing else to do.
  worker.unref();
  worker.on('message', (report: WalCheckpointReport) => {
    if (report.error) logger?.warn('A WAL checkpoint failed (tried again shortly)', { error: report.error });
  });
  worker.on('error', (error) => fallBack(String(error)));
  worker.on('exit', (code) => fallBack(`exit ${code}`));

  return {
    afterCommit() {
      if (++commits % WAL_CHECK_EVERY_COMMITS !== 0 || !sqlite.open) return;
      let walBytes = 0;
      try {
        walBytes = statSync(`${path}-wal`).size;
      } catch {
        return;
      }
      if (walBytes <= WAL_EMERGENCY_BYTES) return;
      logger?.warn('The WAL outgrew its bound: checkpointing on the event loop', { walBytes });
      sqlite.pragma('wal_checkpoint(PASSIVE)');
    },
    stop() {
      if (!stopped) {
        stopped = true;
        worker?.postMessage('stop');
        worker = null;
        // Whoever waits for the exit keeps the process alive until it comes (unref'd, it would not).
        started.ref();
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          void started.terminate();
          resolve();
        }, WAL_STOP_TIMEOUT_MS);
      });
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
    },
  };
}
