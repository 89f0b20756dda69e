/**
 * Durable before visible: a sequenced frame leaves for a real socket only once its event is in
 * the SQLite file, so a crash can lose only events no client has seen (and no client can hold a
 * seq the restarted gateway hands out again). The log's batch flush is driven by hand here, so
 * "not yet written" lasts as long as the test wants.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket, WebSocketServer } from 'ws';

import { createFanout, freshCursor, type Fanout, type Subscriber } from '../gateway/chat/fanout.js';
import { DEFAULT_LIMITS } from '../gateway/config.js';
import { createSendBudget } from '../gateway/sendBudget.js';
import { openDatabase, type GatewayDatabase } from '../persistence/database.js';
import { createSqliteEventLog, type SqliteEventLog } from '../persistence/eventLog.js';
import type { LoggedEvent } from '../persistence/types.js';
import { storedSeqs } from './support/storedEvents.js';

interface Context {
  dir: string;
  database: GatewayDatabase;
  log: SqliteEventLog;
  fanout: Fanout;
  runScheduledFlush(): void;
  server: http.Server;
  wss: WebSocketServer;
  /** The server side of the next connection. */
  accepted: Promise<Subscriber>;
  /** Seqs on disk, read through a second connection to the file. */
  storedSeqs(): number[];
}

const SESSION = 's1';
const test = suite<Context>('durable before visible');

test.before.each(async (context) => {
  context.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ag-durable-'));
  const file = path.join(context.dir, 'gateway.sqlite');
  context.database = openDatabase(file);
  const queued: Array<() => void> = [];
  context.runScheduledFlush = () => {
    for (const flush of queued.splice(0)) flush();
  };
  context.log = createSqliteEventLog(context.database, {
    maxEventsPerSession: 5000,
    maxBytesPerSession: 16 * 1024 * 1024,
    tailEvents: 1000,
    batchMaxEvents: 1000,
    scheduleFlush: (flush) => void queued.push(flush),
    retryDelayMs: 0,
  });
  context.fanout = createFanout({
    log: context.log,
    highWaterMarkBytes: 1024 * 1024,
    lowWaterMarkBytes: 256 * 1024,
    drainPollMs: 10,
    catchUpBatchEvents: 256,
    gapNotice: (sessionId) => JSON.stringify({ kind: 'chat_subscribed', sessionId, gap: true }),
    sendBudget: createSendBudget(DEFAULT_LIMITS.maxTotalSocketBufferBytes),
  });
  const reader = openDatabase(file);
  context.storedSeqs = () => storedSeqs(reader.sqlite, SESSION);
  context.server = http.createServer();
  context.wss = new WebSocketServer({ server: context.server });
  context.accepted = new Promise((resolve) => {
    context.wss.once('connection', (ws, request) => {
      resolve({ id: 'c1', ws, sessions: new Map(), drainTimer: null, transport: request.socket });
    });
  });
  await new Promise<void>((resolve) => context.server.listen(0, '127.0.0.1', resolve));
});

test.after.each(async (context) => {
  for (const client of context.wss.clients) client.terminate();
  await new Promise((resolve) => context.wss.close(resolve));
  await new Promise((resolve) => context.server.close(resolve));
  context.log.close();
  fs.rmSync(context.dir, { recursive: true, force: true });
});

interface Received {
  seq: number;
  /** What was on disk when the frame arrived. */
  storedThen: number[];
}

async function connectClient(context: Context): Promise<{ ws: WebSocket; received: Received[]; subscriber: Subscriber }> {
  const { port } = context.server.address() as AddressInfo;
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  const received: Received[] = [];
  ws.on('message', (raw) => {
    const frame = JSON.parse(raw.toString()) as { seq?: number };
    received.push({ seq: frame.seq ?? -1, storedThen: context.storedSeqs() });
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  return { ws, received, subscriber: await context.accepted };
}

const event = (seq: number): LoggedEvent => ({
  sessionId: SESSION,
  seq,
  runId: 'run-1',
  kind: 'stream_delta',
  json: JSON.stringify({ kind: 'stream_delta', sessionId: SESSION, seq, content: `delta ${seq}` }),
  at: seq,
});

/** Several event-loop iterations, with I/O in between: long enough for an unheld frame to arrive. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 20));
};

const waitFor = async (check: () => boolean, what: string) => {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

test('live frames wait for their batch to be written, then leave together', async (context) => {
  const { received, subscriber } = await connectClient(context);
  for (const seq of [1, 2, 3]) {
    const logged = event(seq);
    context.log.append(logged);
    context.fanout.deliver(subscriber, SESSION, seq, logged.json);
  }
  await settle();
  assert.equal(received, [], 'nothing visible before the write');
  assert.equal(context.storedSeqs(), []);
  context.runScheduledFlush();
  await waitFor(() => received.length === 3, 'the three frames');
  assert.equal(received.map((r) => r.seq), [1, 2, 3]);
  for (const frame of received) assert.ok(frame.storedThen.includes(frame.seq), `seq ${frame.seq} was on disk when it arrived`);
});

test('a frame whose event is already written goes out at the end of the turn', async (context) => {
  const { received, subscriber } = await connectClient(context);
  const logged = event(1);
  context.log.append(logged);
  context.log.flush();
  context.fanout.deliver(subscriber, SESSION, 1, logged.json);
  await waitFor(() => received.length === 1, 'the frame');
  assert.equal(received[0].storedThen, [1]);
});

test('catch-up of events not yet written is held as well', async (context) => {
  const { received, subscriber } = await connectClient(context);
  for (const seq of [1, 2, 3, 4]) context.log.append(event(seq));
  subscriber.sessions.set(SESSION, freshCursor(1));
  context.fanout.catchUp(subscriber, SESSION, false);
  await settle();
  assert.equal(received, []);
  context.runScheduledFlush();
  await waitFor(() => received.length === 3, 'the caught-up frames');
  assert.equal(received.map((r) => r.seq), [2, 3, 4]);
  assert.ok(received.every((r) => r.storedThen.length === 4));
});

test('hold(): an unsequenced frame sent in the turn (an ack naming lastSeq) waits with them', async (context) => {
  const { received, subscriber } = await connectClient(context);
  context.log.append(event(1));
  context.fanout.hold(subscriber);
  subscriber.ws.send(JSON.stringify({ kind: 'chat_subscribed', lastSeq: 1 }));
  await settle();
  assert.equal(received, []);
  context.runScheduledFlush();
  await waitFor(() => received.length === 1, 'the ack');
  assert.equal(received[0].storedThen, [1]);
});

test('while the database fails, frames are not held: live streaming goes on without durability', async (context) => {
  const { received, subscriber } = await connectClient(context);
  context.database.sqlite.exec(
    "CREATE TRIGGER fail_insert BEFORE INSERT ON chat_event_chunks BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
  );
  const first = event(1);
  context.log.append(first);
  context.fanout.deliver(subscriber, SESSION, 1, first.json);
  await settle();
  assert.equal(received, [], 'held while a write may still succeed');
  context.runScheduledFlush();
  await waitFor(() => received.length === 1, 'the frame after the failed write');
  assert.ok(context.log.health().degraded);
  const second = event(2);
  context.log.append(second);
  context.fanout.deliver(subscriber, SESSION, 2, second.json);
  await waitFor(() => received.length === 2, 'a frame while degraded, with no flush');
  assert.equal(context.storedSeqs(), []);
});

test.run();
