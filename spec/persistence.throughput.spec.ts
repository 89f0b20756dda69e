/**
 * A throughput sanity check of the chat event log on a real file: 100 000 appends of ~150-byte
 * events, batched as in production. The rate is printed, never asserted (machines are noisy);
 * what is asserted is that every event was written and pruned exactly as the bounds say.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { DEFAULT_LIMITS } from '../gateway/config.js';
import { openDatabase } from '../persistence/database.js';
import { createSqliteEventLog } from '../persistence/eventLog.js';
import { storedEventCount } from './support/storedEvents.js';

const dir = fs.mkdtempSync(os.tmpdir() + '/ag-');

function measure(label: string, sessionCount: number, total: number, maxEventsPerSession: number) {
  const file = path.join(dir, `${label}.sqlite`);
  const database = openDatabase(file);
  const log = createSqliteEventLog(database, {
    maxEventsPerSession,
    maxBytesPerSession: DEFAULT_LIMITS.maxBytesPerSession,
    tailEvents: DEFAULT_LIMITS.replayTailEvents,
    batchMaxEvents: DEFAULT_LIMITS.logBatchMaxEvents,
  });
  const sessionIds = Array.from({ length: sessionCount }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
  const seqs = new Array<number>(sessionCount).fill(0);
  const runId = 'run-0000-0001';
  let jsonBytes = 0;

  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const s = i % sessionCount;
    const seq = ++seqs[s];
    const json = `{"kind":"stream_delta","id":"msg-${i}","sessionId":"${sessionIds[s]}","runId":"${runId}","seq":${seq},"delta":"tokens ${i % 997}"}`;
    jsonBytes += json.length;
    log.append({ sessionId: sessionIds[s], seq, runId, kind: 'stream_delta', json, at: 1_700_000_000_000 + i });
  }
  log.flush();
  const elapsedMs = performance.now() - started;

  const retained = Math.min(total / sessionCount, maxEventsPerSession);
  for (const sessionId of sessionIds) {
    const stored = storedEventCount(database.sqlite, sessionId);
    assert.is(stored, retained);
    assert.is(log.latestSeq(sessionId), total / sessionCount);
    assert.is(log.oldestSeq(sessionId), total / sessionCount - retained + 1);
  }
  assert.is(log.health().degraded, false);
  database.sqlite.pragma('wal_checkpoint(TRUNCATE)');
  const fileBytes = fs.statSync(file).size;
  const rows = retained * sessionCount;
  log.close();
  console.log(
    `[throughput] ${label}: ${total} events (~${Math.round(jsonBytes / total)} B JSON) over ${sessionCount} session(s) ` +
      `in ${elapsedMs.toFixed(0)} ms = ${Math.round(total / (elapsedMs / 1000))} events/s; ` +
      `${rows} events retained, ${(fileBytes / rows).toFixed(0)} bytes on disk per event`,
  );
}

test('100k appends, one session, pruned to the default 5000 events', () => {
  measure('one-session-pruned', 1, 100_000, DEFAULT_LIMITS.maxEventsPerSession);
});

test('100k appends over 10 sessions, nothing pruned', () => {
  measure('ten-sessions', 10, 100_000, 20_000);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test.run();
