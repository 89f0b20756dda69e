/**
 * The peer: socket.io 4.8 with `connectionStateRecovery`, what a team would pick to get "replay
 * after reconnect" off the shelf, doing the bare relay's work the socket.io way. One room per
 * session; each event becomes the same frame the gateway sends (`{...message, sessionId, seq,
 * runId, timestamp}`) and is broadcast to the room as a `chat` event, which socket.io encodes
 * once for the room and, with recovery on, keeps (with an offset) for
 * `maxDisconnectionDuration`. A client that reconnects with its session id and offset is put
 * back in its rooms and sent what it missed by socket.io itself; this server then acks with the
 * session's latest seq, as the others do. A client it cannot recover subscribes again and is
 * replayed from the kept frames, as on the bare relay.
 *
 * What it does not do, and the gateway does: authentication, a durable log (recovery is in
 * memory, lost with the process, and says nothing when it cannot recover), exactly-once seq
 * across reconnects, back-pressure. WebSocket transport only (no long-polling), no compression,
 * 1 MB max payload, on node:http on 127.0.0.1 like the others.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Server, type Socket } from 'socket.io';

import { serve } from '../lib/ipc.js';
import type { DeltaMessage } from '../lib/frames.js';
import { createStatsApi } from './processStats.js';
import { createProducer, producerApi, relaySessionsApi } from './producer.js';
import type { RelayServerApi } from './relayApi.js';

/** Frames kept per session for a client socket.io could not recover: as the bare relay. */
const KEPT_FRAMES = 5000;
/** socket.io's default; every reconnect in the benchmarks comes well within it. */
const MAX_DISCONNECTION_MS = 2 * 60 * 1000;

const workDir = mkdtempSync(join(tmpdir(), 'ag-bench-sio-'));

type Frame = Record<string, unknown>;
interface PeerSession {
  seq: number;
  runId: string;
  frames: Frame[];
  /** Seq of `frames[0]`. */
  firstSeq: number;
}
const sessions = new Map<string, PeerSession>();
const sessionOf = (sessionId: string): PeerSession => {
  let session = sessions.get(sessionId);
  if (!session) {
    session = { seq: 0, runId: randomUUID(), frames: [], firstSeq: 1 };
    sessions.set(sessionId, session);
  }
  return session;
};

const server = createServer((_request, response) => response.writeHead(404).end());
const io = new Server(server, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
  maxHttpBufferSize: 1024 * 1024,
  connectionStateRecovery: { maxDisconnectionDuration: MAX_DISCONNECTION_MS, skipMiddlewares: true },
});

const publish = (sessionId: string, message: DeltaMessage) => {
  const session = sessionOf(sessionId);
  const seq = ++session.seq;
  // Object.assign rather than a spread followed by more keys: see bareServer.ts.
  const frame: Frame = Object.assign({}, message);
  frame.sessionId = sessionId;
  frame.seq = seq;
  frame.runId = session.runId;
  frame.timestamp = new Date().toISOString();
  session.frames.push(frame);
  if (session.frames.length > 2 * KEPT_FRAMES) {
    const drop = session.frames.length - KEPT_FRAMES;
    session.frames.splice(0, drop);
    session.firstSeq += drop;
  }
  io.to(sessionId).emit('chat', frame);
};

interface SubscribeRequest {
  sessions?: Array<{ sessionId: string; lastSeq?: number }>;
}

const ack = (socket: Socket, sessionId: string) =>
  socket.emit('chat', { kind: 'chat_subscribed', sessionId, lastSeq: sessionOf(sessionId).seq });

io.on('connection', (socket) => {
  const joined: string[] = socket.data.sessions ?? (socket.data.sessions = []);
  // Recovered: socket.io restored the rooms and `data` and sent the missed broadcasts already.
  if (socket.recovered) for (const sessionId of joined) ack(socket, sessionId);
  socket.on('chat.subscribe', (request: SubscribeRequest) => {
    for (const { sessionId, lastSeq = 0 } of request.sessions ?? []) {
      const session = sessionOf(sessionId);
      ack(socket, sessionId);
      const from = Math.max(0, lastSeq + 1 - session.firstSeq);
      for (let i = from; i < session.frames.length; i++) socket.emit('chat', session.frames[i]);
      void socket.join(sessionId);
      if (!joined.includes(sessionId)) joined.push(sessionId);
    }
  });
});

await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
const { port } = server.address() as AddressInfo;

const producer = createProducer(publish);

const api: RelayServerApi = {
  info: () => ({ port, protocol: 'socketio', pid: process.pid, workDir }),
  ...relaySessionsApi(sessions, sessionOf),
  ...producerApi(producer),
  ...createStatsApi(),
};

serve(api, async () => {
  io.disconnectSockets(true);
  await new Promise<void>((resolve) => io.close(() => resolve()));
  server.closeAllConnections();
  rmSync(workDir, { recursive: true, force: true });
});
