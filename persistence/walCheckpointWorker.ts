/**
 * The WAL checkpointer's thread (started by `walCheckpointer.ts`): its own connection to the
 * gateway's SQLite file, checkpointing the WAL into the main file every `intervalMs`. A checkpoint
 * copies pages and fsyncs the file; on the event loop that was the latency tail of every frame
 * (bench: latency p99.9 4.6–8.2 ms with SQLite's auto-checkpoint, 0.84 ms without). PASSIVE never
 * waits for the writer and never makes it wait: it copies what no reader needs, and the writer
 * restarts the WAL from its beginning at its next commit once all of it was copied.
 */
import { parentPort, workerData } from 'node:worker_threads';

import Sqlite from 'better-sqlite3';

export interface WalCheckpointWorkerData {
  path: string;
  intervalMs: number;
  busyTimeoutMs: number;
}

/** What the worker reports after each checkpoint that found pages to copy. */
export interface WalCheckpointReport {
  /** WAL frames when the checkpoint started, and how many of them are now in the main file. */
  walFrames: number;
  checkpointed: number;
  /** Set when the checkpoint failed (the next one is tried at the next interval). */
  error?: string;
}

const data = workerData as WalCheckpointWorkerData;
const port = parentPort;
if (!port) throw new Error('walCheckpointWorker must run in a worker thread');

const database = new Sqlite(data.path, { fileMustExist: true });
database.pragma(`busy_timeout = ${data.busyTimeoutMs}`);
// This connection only checkpoints: it must never checkpoint as a side effect of anything else.
database.pragma('wal_autocheckpoint = 0');

const checkpoint = () => {
  try {
    const [row] = database.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    if (row && row.log > 0) port.postMessage({ walFrames: row.log, checkpointed: row.checkpointed } satisfies WalCheckpointReport);
  } catch (error) {
    port.postMessage({ walFrames: 0, checkpointed: 0, error: String(error) } satisfies WalCheckpointReport);
  }
};

const timer = setInterval(checkpoint, data.intervalMs);
port.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  // One last copy, so the main connection's close has little left to do.
  checkpoint();
  database.close();
  port.close();
});
