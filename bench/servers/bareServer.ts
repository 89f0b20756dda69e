/**
 * The baseline: a bare relay on `ws` alone. Same transport as the gateway (node:http on
 * 127.0.0.1, `noServer` + `handleUpgrade`, no compression, 1 MiB max payload) and the same
 * producer, but none of the gateway's duties: no auth, no machines, no durable log, no
 * back-pressure. It stringifies each event once into the very frame the gateway sends and writes
 * it to every subscriber; replay is a slice of an in-memory array.
 *
 * BENCH_BARE_CORK=1 (how the harness starts the baseline) makes it cork each subscriber's socket
 * for the rest of the event-loop turn, as the gateway does, live frames and replays alike, and
 * encode a live frame to UTF-8 once for all its subscribers, as the gateway does: the physical
 * limit of the transport, so a ratio measures the gateway's own work. BENCH_BARE_CORK=0 is bare
 * `ws` as it comes (one write per frame, a string per socket), shown beside it for context.
 *
 * `/shell` is the bare counterpart of the gateway's: one node-pty per key, output relayed as
 * `output` frames, reconnect replays the raw chunks (claudecodeui's baseline) with no screen mirror.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as nodePty from 'node-pty';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

import { serve } from '../lib/ipc.js';
import type { DeltaMessage } from '../lib/frames.js';
import { createStatsApi } from './processStats.js';
import { createProducer, producerApi, relaySessionsApi } from './producer.js';
import type { RelayServerApi } from './relayApi.js';

/** Frames kept per session for replay: the gateway's `maxEventsPerSession` default. */
const KEPT_FRAMES = 5000;
/** Batch a turn's frames per socket into one write, like the gateway (see the header). */
const CORK = process.env.BENCH_BARE_CORK === '1';
/** `ws.send` options for a frame handed over as bytes: it is still JSON, a text frame. */
const TEXT_FRAME = { binary: false } as const;
/** Raw chunks kept per PTY for reconnect (claudecodeui's baseline). */
const KEPT_CHUNKS = 5000;

const workDir = mkdtempSync(join(tmpdir(), 'ag-bench-bare-'));

interface BareSession {
  seq: number;
  runId: string;
  frames: string[];
  /** Seq of `frames[0]`. */
  firstSeq: number;
  subscribers: Set<WebSocket>;
}
const transports = new WeakMap<WebSocket, Duplex>();
const corked = new Set<Duplex>();
const uncorkAll = () => {
  for (const socket of corked) socket.uncork();
  corked.clear();
};
/** Corks the socket under `ws` until the end of this turn (when the baseline corks). */
const corkForTurn = (ws: WebSocket) => {
  if (!CORK) return;
  const socket = transports.get(ws);
  if (!socket || corked.has(socket)) return;
  if (corked.size === 0) process.nextTick(uncorkAll);
  socket.cork();
  corked.add(socket);
};
const sessions = new Map<string, BareSession>();
const sessionOf = (sessionId: string): BareSession => {
  let session = sessions.get(sessionId);
  if (!session) {
    session = { seq: 0, runId: randomUUID(), frames: [], firstSeq: 1, subscribers: new Set() };
    sessions.set(sessionId, session);
  }
  return session;
};

const publish = (sessionId: string, message: DeltaMessage) => {
  const session = sessionOf(sessionId);
  const seq = ++session.seq;
  // Object.assign, not `{...message, sessionId, …}`: on Node 20 a spread followed by more keys
  // leaves the object in dictionary mode, ~3 µs per frame plus a slower stringify (bench/hotPath.ts).
  const record = Object.assign({}, message) as Record<string, unknown>;
  record.sessionId = sessionId;
  record.seq = seq;
  record.runId = session.runId;
  record.timestamp = new Date().toISOString();
  const frame = JSON.stringify(record);
  session.frames.push(frame);
  if (session.frames.length > 2 * KEPT_FRAMES) {
    const drop = session.frames.length - KEPT_FRAMES;
    session.frames.splice(0, drop);
    session.firstSeq += drop;
  }
  // Handed to `ws` as a string, the frame is measured and encoded once per socket (~0.9 µs each
  // here): 41 % of the relay's CPU per event at 100 subscribers (bench: fanout).
  const payload = CORK && session.subscribers.size > 1 ? Buffer.from(frame) : frame;
  for (const ws of session.subscribers) {
    if (ws.readyState !== WebSocket.OPEN) continue;
    corkForTurn(ws);
    ws.send(payload, TEXT_FRAME);
  }
};

const text = (raw: RawData): string => (Buffer.isBuffer(raw) ? raw.toString() : Buffer.concat(raw as Buffer[]).toString());

function handleChat(ws: WebSocket): void {
  const mine = new Set<BareSession>();
  ws.on('message', (raw) => {
    const message = JSON.parse(text(raw)) as { type?: string; sessions?: Array<{ sessionId: string; lastSeq?: number }> };
    if (message.type !== 'chat.subscribe') return;
    for (const { sessionId, lastSeq = 0 } of message.sessions ?? []) {
      const session = sessionOf(sessionId);
      corkForTurn(ws);
      ws.send(JSON.stringify({ kind: 'chat_subscribed', sessionId, lastSeq: session.seq }));
      const from = Math.max(0, lastSeq + 1 - session.firstSeq);
      for (let i = from; i < session.frames.length; i++) ws.send(session.frames[i]);
      session.subscribers.add(ws);
      mine.add(session);
    }
  });
  ws.on('close', () => {
    for (const session of mine) session.subscribers.delete(ws);
  });
}

interface BarePty {
  pty: nodePty.IPty;
  chunks: string[];
  viewers: Set<WebSocket>;
}
const ptys = new Map<string, BarePty>();

function handleShell(ws: WebSocket): void {
  let attached: BarePty | null = null;
  ws.on('message', (raw) => {
    const message = JSON.parse(text(raw)) as Record<string, unknown>;
    if (message.type === 'input' && attached) {
      attached.pty.write(String(message.data));
      return;
    }
    if (message.type !== 'init') return;
    const command = String(message.initialCommand);
    const cwd = String(message.projectPath);
    const key = `${cwd}\0${command}`;
    const existing = ptys.get(key);
    if (existing) {
      attached = existing;
      ws.send(JSON.stringify({ type: 'output', data: '\x1b[36m[Reconnected to existing session]\x1b[0m\r\n' }));
      for (const chunk of existing.chunks) ws.send(JSON.stringify({ type: 'output', data: chunk }));
      ws.send(JSON.stringify({ type: 'replay_end' }));
      existing.viewers.add(ws);
      return;
    }
    const pty = nodePty.spawn('bash', ['-c', command], {
      name: 'xterm-256color',
      cols: Number(message.cols) || 80,
      rows: Number(message.rows) || 24,
      cwd,
      env: { ...process.env, TERM: 'xterm-256color' } as Record<string, string>,
    });
    const entry: BarePty = { pty, chunks: [], viewers: new Set([ws]) };
    ptys.set(key, entry);
    attached = entry;
    pty.onData((data) => {
      entry.chunks.push(data);
      if (entry.chunks.length > KEPT_CHUNKS) entry.chunks.shift();
      const frame = JSON.stringify({ type: 'output', data });
      for (const viewer of entry.viewers) if (viewer.readyState === WebSocket.OPEN) viewer.send(frame);
    });
    pty.onExit(({ exitCode }) => {
      ptys.delete(key);
      const frame = JSON.stringify({ type: 'output', data: `\r\nProcess exited with code ${exitCode}\r\n` });
      for (const viewer of entry.viewers) if (viewer.readyState === WebSocket.OPEN) viewer.send(frame);
    });
  });
  ws.on('close', () => attached?.viewers.delete(ws));
}

const server = createServer((_request, response) => response.writeHead(404).end());
const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, perMessageDeflate: false, clientTracking: true });
server.on('upgrade', (request, socket, head) => {
  const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
  if (pathname !== '/ws' && pathname !== '/shell') {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => {
    transports.set(ws, socket);
    if (pathname === '/ws') handleChat(ws);
    else handleShell(ws);
  });
});
await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
const { port } = server.address() as AddressInfo;

const producer = createProducer(publish);

const api: RelayServerApi = {
  info: () => ({ port, protocol: 'ws', pid: process.pid, workDir }),
  ...relaySessionsApi(sessions, sessionOf),
  ...producerApi(producer),
  ...createStatsApi(),
};

serve(api, async () => {
  for (const { pty } of ptys.values()) pty.kill('SIGKILL');
  for (const ws of wss.clients) ws.terminate();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(workDir, { recursive: true, force: true });
});
