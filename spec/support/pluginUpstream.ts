import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';

import { WebSocketServer, type WebSocket } from 'ws';

/** A frame as a test peer saw it. */
export interface SeenFrame {
  data: Buffer;
  isBinary: boolean;
}

export interface UpstreamOptions {
  /** Hold every handshake until `acceptPending()` (a plugin that accepts slowly). */
  holdHandshake?: boolean;
  /** Refuse every upgrade with this HTTP status (a plugin that does not serve `/ws`). */
  rejectStatus?: number;
  /** Answer pings (default true). */
  autoPong?: boolean;
  onConnection?(ws: WebSocket): void;
}

/**
 * A stand-in plugin: a real `ws` server on 127.0.0.1 that records what it sees at every level
 * (TCP sockets, upgrade requests, WebSocket connections, frames, close codes).
 */
export interface TestUpstream {
  port: number;
  /** Paths of the upgrade requests it received. */
  upgradePaths: string[];
  connections: WebSocket[];
  received: SeenFrame[];
  closes: Array<{ code: number; reason: string }>;
  tcpOpened: number;
  /** TCP connections the peer ended (FIN seen) or that closed. */
  tcpClosed: number;
  pings: number;
  acceptPending(): void;
  close(): Promise<void>;
}

export async function startUpstream(options: UpstreamOptions = {}): Promise<TestUpstream> {
  const server: Server = createServer();
  const wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true });
  const tcpSockets = new Set<Socket>();
  const pending: Array<{ request: IncomingMessage; socket: Socket; head: Buffer }> = [];

  const upstream: TestUpstream = {
    port: 0,
    upgradePaths: [],
    connections: [],
    received: [],
    closes: [],
    tcpOpened: 0,
    tcpClosed: 0,
    pings: 0,
    acceptPending() {
      for (const { request, socket, head } of pending.splice(0)) {
        if (!socket.destroyed) accept(request, socket, head);
      }
    },
    async close() {
      for (const ws of upstream.connections) ws.terminate();
      for (const socket of tcpSockets) socket.destroy();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const accept = (request: IncomingMessage, socket: Socket, head: Buffer) => {
    wss.handleUpgrade(request, socket, head, (ws) => {
      upstream.connections.push(ws);
      ws.on('message', (data, isBinary) => upstream.received.push({ data: data as Buffer, isBinary }));
      ws.on('close', (code, reason) => upstream.closes.push({ code, reason: reason.toString() }));
      ws.on('ping', () => upstream.pings++);
      options.onConnection?.(ws);
    });
  };

  server.on('connection', (socket: Socket) => {
    upstream.tcpOpened++;
    tcpSockets.add(socket);
    // An HTTP server socket is half-open capable: a peer that hangs up shows as 'end' first.
    let ended = false;
    const onGone = () => {
      if (ended) return;
      ended = true;
      upstream.tcpClosed++;
    };
    socket.on('end', onGone);
    socket.on('close', () => {
      onGone();
      tcpSockets.delete(socket);
    });
  });
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    upstream.upgradePaths.push(request.url ?? '');
    if (options.rejectStatus) {
      socket.end(`HTTP/1.1 ${options.rejectStatus} Refused\r\nConnection: close\r\n\r\n`);
    } else if (options.holdHandshake) {
      // After 'upgrade' nobody reads the socket, so a peer that hangs up would go unnoticed;
      // reading it (nothing else arrives before the 101) lets 'close' fire.
      socket.resume();
      pending.push({ request, socket, head });
    }
    else accept(request, socket, head);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  upstream.port = typeof address === 'object' && address ? address.port : 0;
  return upstream;
}

/** A port on 127.0.0.1 with nothing listening (it was bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
