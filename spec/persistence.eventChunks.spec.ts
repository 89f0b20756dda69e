/**
 * The chunked row format of the chat log (`persistence/eventChunk.ts`): frames come back byte for
 * byte (astral characters, empty and newline-bearing texts included), unreadable rows are refused,
 * pruning stays exact when the bound falls inside a chunk, reads start inside a chunk, a large
 * write is cut into bounded chunks, and a version-2 database's events survive migration 3.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Sqlite from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

import { openDatabase } from '../persistence/database.js';
import { CHUNK_MAX_EVENTS, CorruptChunkError, decodeChunk, encodeChunk } from '../persistence/eventChunk.js';
import { createSqliteEventLog, type SqliteEventLog, type SqliteEventLogOptions } from '../persistence/eventLog.js';
import { MIGRATIONS } from '../persistence/migrations.js';
import type { LoggedEvent } from '../persistence/types.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ag-chunks-'));
const logs: SqliteEventLog[] = [];

function event(sessionId: string, seq: number, json = `{"kind":"stream_delta","seq":${seq}}`, runId = 'run-1'): LoggedEvent {
  return { sessionId, seq, runId, kind: seq % 7 === 0 ? 'complete' : 'stream_delta', json, at: 1_700_000_000_000 + Math.floor(seq / 3) };
}

function open(file: string, options: Partial<SqliteEventLogOptions> = {}) {
  const database = openDatabase(file);
  const queued: Array<() => void> = [];
  const log = createSqliteEventLog(database, {
    maxEventsPerSession: 5000,
    maxBytesPerSession: 16 * 1024 * 1024,
    tailEvents: 2,
    batchMaxEvents: 1000,
    scheduleFlush: (flush) => void queued.push(flush),
    retryDelayMs: 0,
    ...options,
  });
  logs.push(log);
  const turn = () => {
    for (const flush of queued.splice(0)) flush();
  };
  const chunks = () =>
    database.sqlite.prepare('SELECT first_seq, last_seq, count FROM chat_event_chunks ORDER BY session_id, first_seq').raw(true).all() as number[][];
  return { database, log, turn, chunks };
}

test('a chunk gives back every frame exactly, with its seq, run, kind and time', () => {
  const texts = ['{"a":"😀 astral"}', '', '{"b":"line\nbreak, raw"}', '{"c":"\\u2028"}', 'x'.repeat(70_000)];
  const events = texts.map((json, i) => event('s', 10 + i, json, i < 2 ? 'run-a' : 'run-b'));
  const sizes = events.map((e) => Buffer.byteLength(e.json, 'utf8'));
  const chunk = encodeChunk(events, sizes, 0, events.length);
  assert.is(chunk.firstSeq, 10);
  assert.is(chunk.lastSeq, 14);
  assert.is(chunk.bytes, sizes.reduce((a, b) => a + b, 0));
  assert.equal(decodeChunk('s', chunk.firstSeq, chunk.lastSeq, chunk.index, chunk.json), events);
  const one = encodeChunk(events, sizes, 2, 3);
  assert.equal(decodeChunk('s', one.firstSeq, one.lastSeq, one.index, one.json), [events[2]]);
});

test('a row that does not decode is refused, never guessed around', () => {
  const events = [event('s', 1), event('s', 2)];
  const chunk = encodeChunk(events, [1, 1], 0, 2);
  assert.throws(() => decodeChunk('s', 1, 3, chunk.index, chunk.json), (error: unknown) => error instanceof CorruptChunkError);
  assert.throws(() => decodeChunk('s', 1, 2, chunk.index, chunk.json + 'x'), (error: unknown) => error instanceof CorruptChunkError);
  assert.throws(() => decodeChunk('s', 1, 2, '{not json', chunk.json), (error: unknown) => error instanceof CorruptChunkError);
});

test('pruning by events is exact when the bound falls inside a chunk, and reads start mid-chunk', () => {
  const { log, turn, chunks } = open(path.join(dir, 'exact.sqlite'), { maxEventsPerSession: 25 });
  let seq = 0;
  for (const size of [10, 10, 7, 3, 9]) {
    for (let i = 0; i < size; i++) log.append(event('s', ++seq));
    turn();
  }
  // 39 events written in five chunks; the newest 25 are kept: 15..39. The last prune dropped 4
  // events of the chunk 11..20 and stored its rest in pieces of 4.
  assert.is(log.oldestSeq('s'), 15);
  assert.equal(chunks(), [[15, 18, 4], [19, 20, 2], [21, 27, 7], [28, 30, 3], [31, 39, 9]]);
  assert.equal(log.read('s', 16, 5).map((e) => e.seq), [17, 18, 19, 20, 21]);
  assert.equal(log.read('s', 0, 100).map((e) => e.seq), Array.from({ length: 25 }, (_, i) => 15 + i));
  assert.equal(log.read('s', 20, 3).map((e) => e.json), [event('s', 21).json, event('s', 22).json, event('s', 23).json]);
});

test('at its bound, a session going on one event per turn after bursts deletes a row per event, not rewrites a chunk', () => {
  const { database, log, turn, chunks } = open(path.join(dir, 'paced-after-bursts.sqlite'), { maxEventsPerSession: 50 });
  const changes = database.sqlite.prepare('SELECT total_changes()').pluck(true);
  let seq = 0;
  for (let burst = 0; burst < 4; burst++) {
    for (let i = 0; i < 20; i++) log.append(event('s', ++seq));
    turn();
  }
  assert.equal(chunks(), [[31, 40, 10], [41, 60, 20], [61, 80, 20]]);
  // 60 turns of one event: each trims one event off the oldest chunk. Rewriting that chunk's rest
  // each time is a delete and two inserts per turn; pieces of one event leave one insert and one
  // delete, but for the turns that cut a chunk into its pieces (three chunks go).
  const perTurn: number[] = [];
  for (let i = 0; i < 60; i++) {
    const before = changes.get() as number;
    log.append(event('s', ++seq));
    turn();
    perTurn.push((changes.get() as number) - before);
  }
  assert.ok(perTurn.filter((n) => n !== 2).length <= 3, `row changes per turn: ${perTurn.join(' ')}`);
  // Exact all along: the newest 50.
  assert.is(log.oldestSeq('s'), seq - 49);
  assert.equal(log.read('s', 0, 100).map((e) => e.seq), Array.from({ length: 50 }, (_, i) => seq - 49 + i));
  assert.equal(chunks()[0], [seq - 49, seq - 49, 1]);
});

test('pruning by bytes is exact across chunks, and never drops the newest event', () => {
  const frame = (seq: number) => event('s', seq, `{"seq":${String(seq).padStart(4, '0')},"pad":"${'p'.repeat(88)}"}`);
  const size = Buffer.byteLength(frame(1).json);
  const { log, turn, chunks } = open(path.join(dir, 'bytes.sqlite'), { maxBytesPerSession: size * 12 + 5 });
  let seq = 0;
  for (const n of [8, 8, 8]) {
    for (let i = 0; i < n; i++) log.append(frame(++seq));
    turn();
  }
  assert.is(log.oldestSeq('s'), 13);
  assert.equal(chunks(), [[13, 16, 4], [17, 24, 8]]);
  // One frame larger than the whole bound: it alone is kept.
  log.append(event('s', ++seq, `{"big":"${'b'.repeat(size * 20)}"}`));
  turn();
  assert.is(log.oldestSeq('s'), 25);
  assert.equal(chunks(), [[25, 25, 1]]);
  assert.equal(log.read('s', 0, 10).map((e) => e.seq), [25]);
});

test('a large write is cut into chunks of CHUNK_MAX_EVENTS, so a short read decodes little', () => {
  const { log, turn, chunks } = open(path.join(dir, 'cap.sqlite'), { tailEvents: 0 });
  for (let seq = 1; seq <= 2 * CHUNK_MAX_EVENTS + 44; seq++) log.append(event('s', seq));
  turn();
  const max = CHUNK_MAX_EVENTS;
  assert.equal(chunks(), [[1, max, max], [max + 1, 2 * max, max], [2 * max + 1, 2 * max + 44, 44]]);
  assert.equal(log.read('s', max - 2, 5).map((e) => e.seq), [max - 1, max, max + 1, max + 2, max + 3]);
});

test('a version-2 database keeps every event through migration 3, and its sessions go on', () => {
  const file = path.join(dir, 'v2.sqlite');
  const raw = new Sqlite(file);
  raw.exec(MIGRATIONS[0]);
  raw.exec(MIGRATIONS[1]);
  raw.pragma('user_version = 2');
  const insert = raw.prepare('INSERT INTO chat_events (session_id, seq, run_id, kind, json, at) VALUES (?, ?, ?, ?, ?, ?)');
  const old = [event('a', 1, '{"x":"é😀"}'), event('a', 2), event('a', 3, '{"y":1}', 'run-2'), event('b', 7)];
  for (const e of old) insert.run(e.sessionId, e.seq, e.runId, e.kind, e.json, e.at);
  raw.close();

  const { database, log, turn } = open(file);
  assert.is(database.sqlite.pragma('user_version', { simple: true }), 3);
  assert.equal(log.read('a', 0, 10), old.slice(0, 3));
  assert.equal(log.read('b', 0, 10), [old[3]]);
  assert.is(log.latestSeq('a'), 3);
  log.append(event('a', 4));
  turn();
  assert.equal(log.read('a', 2, 10).map((e) => e.seq), [3, 4]);
});

test.after(async () => {
  for (const log of logs) await log.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
