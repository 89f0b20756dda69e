/**
 * `npx tsx bench/commitLatency.ts [events] [intervalMs] [worker|auto]` — how long the chat log's
 * write takes when a paced stream makes every event its own transaction: the real event log on a
 * real SQLite file, one event appended every `intervalMs` (1: the latency workload's 1 000/s),
 * the flush timed where the gateway runs it. Every frame waits for this write before it leaves
 * (durable before visible), so its p50 is what the gateway adds to a paced frame's latency over a
 * relay that writes nothing down, and its tail (WAL checkpoints) is part of the gateway's. Prints
 * the flush's p50 / p99 / p99.9 / max and the WAL's size at the end. A development probe, not a
 * workload.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DEFAULT_LIMITS } from '../gateway/config.js';
import { openDatabase } from '../persistence/database.js';
import { createSqliteEventLog } from '../persistence/eventLog.js';
import { deltaMessage } from './lib/frames.js';

const [eventsArg = '5000', intervalArg = '1', checkpoints = 'worker'] = process.argv.slice(2);
const events = Number(eventsArg);
const intervalMs = Number(intervalArg);
if (checkpoints !== 'worker' && checkpoints !== 'auto') throw new Error('checkpoints: worker or auto');

const dir = mkdtempSync(join(tmpdir(), 'ag-commit-latency-'));
const file = join(dir, 'gateway.sqlite');
const database = openDatabase(file, { checkpoints });
const flushMs: number[] = [];
const log = createSqliteEventLog(database, {
  maxEventsPerSession: DEFAULT_LIMITS.maxEventsPerSession,
  maxBytesPerSession: DEFAULT_LIMITS.maxBytesPerSession,
  tailEvents: 1000,
  batchMaxEvents: DEFAULT_LIMITS.logBatchMaxEvents,
  retryDelayMs: 100,
  scheduleFlush: (flush) =>
    setImmediate(() => {
      const start = performance.now();
      flush();
      flushMs.push(performance.now() - start);
    }),
});

const sessionId = 'commit-latency-session-0000000000000';
const runId = 'commit-latency-run-000000000000000000';
let seq = 0;
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    seq++;
    const json = JSON.stringify({ ...deltaMessage(seq, 0), sessionId, seq, runId, timestamp: new Date().toISOString() });
    log.append({ sessionId, seq, runId, kind: 'stream_delta', json, at: Date.now() });
    if (seq >= events) {
      clearInterval(timer);
      setTimeout(resolve, 50);
    }
  }, intervalMs);
});

flushMs.sort((a, b) => a - b);
const at = (q: number) => flushMs[Math.min(flushMs.length - 1, Math.floor(q * flushMs.length))].toFixed(3);
let walBytes = 0;
try {
  walBytes = statSync(`${file}-wal`).size;
} catch {
  // No WAL left: nothing to report.
}
console.log(
  `${flushMs.length} writes (checkpoints: ${checkpoints}), ms: p50 ${at(0.5)}, p99 ${at(0.99)}, p99.9 ${at(0.999)}, max ${at(1)}; ` +
    `WAL ${(walBytes / 1048576).toFixed(1)} MiB at the end`,
);
await log.close();
await database.closed();
rmSync(dir, { recursive: true, force: true });
