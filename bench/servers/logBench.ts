/**
 * The durable log on its own: the gateway's `createSqliteEventLog` (default limits: batches of
 * 1000 or one per event-loop turn, per-session pruning, in-memory replay tail) against bare
 * better-sqlite3 inserting the same rows into the same schema, one transaction per batch.
 * Frames are built before the clock starts: serializing is not the log's cost.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

import { DEFAULT_LIMITS } from '../../gateway/config.js';
import { openDatabase } from '../../persistence/database.js';
import { createSqliteEventLog } from '../../persistence/eventLog.js';
import { nextTurn, nowUs } from '../lib/clock.js';
import { deltaMessage } from '../lib/frames.js';
import { serve } from '../lib/ipc.js';

export interface LogTrialParams {
  events: number;
  sessions: number;
  /** 0: appends in one synchronous burst (batches of `logBatchMaxEvents`); n: n appends per event-loop turn. */
  perTurn: number;
  maxEventsPerSession: number;
}

export interface LogTrialResult {
  eventsPerSecond: number;
  bytesOnDiskPerEvent: number;
  frameBytes: number;
  rows: number;
}

export interface LogBenchApi {
  [method: string]: (params: never) => unknown;
  gateway(params: LogTrialParams): Promise<LogTrialResult>;
  bare(params: LogTrialParams): Promise<LogTrialResult>;
}

const dir = mkdtempSync(join(tmpdir(), 'ag-bench-log-'));
let fileNumber = 0;

interface Row {
  sessionId: string;
  seq: number;
  runId: string;
  kind: string;
  json: string;
  at: number;
}

function buildRows({ events, sessions }: LogTrialParams): Row[] {
  const sessionIds = Array.from({ length: sessions }, () => randomUUID());
  const runId = randomUUID();
  const seqs = new Array<number>(sessions).fill(0);
  const timestamp = new Date().toISOString();
  const rows: Row[] = [];
  for (let i = 0; i < events; i++) {
    const s = i % sessions;
    const seq = ++seqs[s];
    const json = JSON.stringify({ ...deltaMessage(i, nowUs()), sessionId: sessionIds[s], seq, runId, timestamp });
    rows.push({ sessionId: sessionIds[s], seq, runId, kind: 'stream_delta', json, at: Date.now() });
  }
  return rows;
}

/** `retainedSql` counts the events left: the gateway's log holds them as chunks, the bare baseline as rows. */
function onDisk(path: string, sqlite: ReturnType<typeof openDatabase>['sqlite'], rows: Row[], retainedSql = 'SELECT count(*) FROM chat_events') {
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  const retained = sqlite.prepare(retainedSql).pluck().get() as number;
  const frameBytes = rows.reduce((sum, row) => sum + Buffer.byteLength(row.json), 0) / rows.length;
  return { bytesOnDiskPerEvent: statSync(path).size / retained, frameBytes, rows: retained };
}

const api: LogBenchApi = {
  async gateway(params) {
    const rows = buildRows(params);
    const path = join(dir, `gateway-${fileNumber++}.sqlite`);
    const database = openDatabase(path);
    const log = createSqliteEventLog(database, {
      maxEventsPerSession: params.maxEventsPerSession,
      maxBytesPerSession: DEFAULT_LIMITS.maxBytesPerSession,
      tailEvents: DEFAULT_LIMITS.replayTailEvents,
      batchMaxEvents: DEFAULT_LIMITS.logBatchMaxEvents,
    });
    const startUs = nowUs();
    for (let i = 0; i < rows.length; i++) {
      log.append(rows[i]);
      if (params.perTurn > 0 && i % params.perTurn === params.perTurn - 1) await nextTurn();
    }
    log.flush();
    const seconds = (nowUs() - startUs) / 1e6;
    if (log.health().degraded) throw new Error(`log degraded: ${log.health().lastError}`);
    const disk = onDisk(path, database.sqlite, rows, 'SELECT coalesce(sum(count), 0) FROM chat_event_chunks');
    log.close();
    rmSync(path, { force: true });
    return { eventsPerSecond: rows.length / seconds, ...disk };
  },

  async bare(params) {
    const rows = buildRows(params);
    const path = join(dir, `bare-${fileNumber++}.sqlite`);
    const database = openDatabase(path);
    // The textbook table a team would write (and the gateway's until migration 3): one row per
    // event, keyed by (session, seq), with the gateway's pragmas.
    database.sqlite.exec(`CREATE TABLE chat_events (
      session_id TEXT NOT NULL, seq INTEGER NOT NULL, run_id TEXT NOT NULL, kind TEXT NOT NULL, json TEXT NOT NULL, at INTEGER NOT NULL,
      PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID`);
    const insert = database.sqlite.prepare(
      'INSERT INTO chat_events (session_id, seq, run_id, kind, json, at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const batch = params.perTurn > 0 ? params.perTurn : DEFAULT_LIMITS.logBatchMaxEvents;
    const write = database.sqlite.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const row = rows[i];
        insert.run(row.sessionId, row.seq, row.runId, row.kind, row.json, row.at);
      }
    });
    const startUs = nowUs();
    for (let from = 0; from < rows.length; from += batch) {
      write(from, Math.min(rows.length, from + batch));
      if (params.perTurn > 0) await nextTurn();
    }
    const seconds = (nowUs() - startUs) / 1e6;
    const disk = onDisk(path, database.sqlite, rows);
    database.close();
    rmSync(path, { force: true });
    return { eventsPerSecond: rows.length / seconds, ...disk };
  },
};

serve(api, () => rmSync(dir, { recursive: true, force: true }));
