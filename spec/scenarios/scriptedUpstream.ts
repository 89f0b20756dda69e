/**
 * A scripted plugin upstream: a real `ws` server on 127.0.0.1 that the gateway's tunnel dials.
 * It can hold handshakes (a plugin that accepts slowly), and keeps what each connection
 * received and how it closed, and how many TCP connections ended, for expectations.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { WebSocketServer, type WebSocket } from 'ws';

import type { UpstreamSpec } from './format.js';
import type { Waiter } from './waiter.js';

export type SeenFrame = { text: string } | { binary: string };

export interface UpstreamConnection {
  ws: WebSocket;
  received: SeenFrame[];
  /** Index of the first frame `expectFrames` has not consumed. */
  cursor: number;
  closed: { code: number; reason: string } | null;
}

export interface ScriptedUpstream {
  name: string;
  port: number;
  upgradePaths: string[];
  connections: UpstreamConnection[];
  tcpEnded: number;
  acceptPending(): void;
  close(): Promise<void>;
}

export async function startScriptedUpstream(name: string, spec: UpstreamSpec, waiter: Waiter): Promise<ScriptedUpstream> {
  const server: Server = createServer((_request, response) => response.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, autoPong: spec.autoPong ?? true, perMessageDeflate: false });
  const sockets = new Set<Socket>();
  const held: Array<{ request: IncomingMessage; socket: Socket; head: Buffer }> = [];

  const accept = (request: IncomingMessage, socket: Socket, head: Buffer) => {
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection: UpstreamConnection = { ws, received: [], cursor: 0, closed: null };
      upstream.connections.push(connection);
      ws.on('message', (data, isBinary) => {
        const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
        connection.received.push(isBinary ? { binary: bytes.toString('base64') } : { text: bytes.toString('utf8') });
        waiter.wake();
      });
      ws.on('close', (code, reason) => {
        connection.closed = { code, reason: reason.toString() };
        waiter.wake();
      });
      ws.on('error', () => {});
      waiter.wake();
    });
  };

  const upstream: ScriptedUpstream = {
    name,
    port: 0,
    upgradePaths: [],
    connections: [],
    tcpEnded: 0,
    acceptPending() {
      for (const { request, socket, head } of held.splice(0)) if (!socket.destroyed) accept(request, socket, head);
    },
    async close() {
      for (const connection of upstream.connections) connection.ws.terminate();
      for (const socket of sockets) socket.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    let ended = false;
    const gone = () => {
      if (ended) return;
      ended = true;
      upstream.tcpEnded += 1;
      waiter.wake();
    };
    socket.on('end', gone);
    socket.on('close', () => {
      gone();
      sockets.delete(socket);
    });
  });
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    upstream.upgradePaths.push(request.url ?? '');
    waiter.wake();
    if (spec.holdHandshake) {
      // Nobody reads a socket after 'upgrade'; reading it lets a hang-up by the peer be seen.
      socket.resume();
      held.push({ request, socket, head });
      return;
    }
    accept(request, socket, head);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  upstream.port = (server.address() as AddressInfo).port;
  return upstream;
}

/** A loopback port with nothing listening on it (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

