import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

import { WebSocket, WebSocketServer } from 'ws';
import { SimulatedClock, type AnyActorRef } from 'xstate';

import { createActorHost, type ActorHost } from '../../gateway/actorHost.js';
import { wireMachines } from '../../gateway/wiring.js';
import { resolveLimits, type GatewayLimits } from '../../gateway/config.js';
import { silentLogger } from '../../gateway/logger.js';
import { createPluginRoute, type PluginRoute } from '../../gateway/plugin/pluginRoute.js';
import type { GetPluginPort } from '../../gateway/plugin/pluginPort.js';
import type { PluginTunnelContext } from '../../machines/pluginTunnel.machine.js';
import type { SeenFrame } from './pluginUpstream.js';
import { waitFor } from './pluginWait.js';

export interface PluginHarnessOptions {
  /** Omit to test a host without a plugin registry. */
  getPluginPort?: GetPluginPort;
  limits?: Partial<GatewayLimits>;
  heartbeatIntervalMs?: number;
}

/**
 * Stands in for the lead's createWebSocketServer: a node:http server on 127.0.0.1 whose upgrades
 * under `/plugin-ws/` go to the plugin route with a fixed user. The pathname is the request's
 * raw path (query stripped, no normalisation), so tests can send paths a URL parser would rewrite.
 * Every actor runs on a SimulatedClock, so no timeout fires unless a test advances it.
 */
export interface PluginHarness {
  clock: SimulatedClock;
  host: ActorHost;
  route: PluginRoute;
  port: number;
  /** The gateway's side of every client socket, in arrival order. */
  serverSockets: WebSocket[];
  url(path: string): string;
  tunnel(n: number): AnyActorRef | undefined;
  tunnelContext(n: number): PluginTunnelContext;
  close(): Promise<void>;
}

export async function startPluginHarness(options: PluginHarnessOptions = {}): Promise<PluginHarness> {
  const clock = new SimulatedClock();
  const host = createActorHost({ clock });
  const route = createPluginRoute({
    host,
    limits: resolveLimits(options.limits),
    logger: silentLogger,
    ...(options.getPluginPort ? { getPluginPort: options.getPluginPort } : {}),
    ...(options.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
  });
  host.start(wireMachines({ plugin: route.effects }));

  const server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  const serverSockets: WebSocket[] = [];
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    const pathname = (request.url ?? '/').split('?')[0];
    if (!pathname.startsWith('/plugin-ws/')) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      serverSockets.push(ws);
      route.handle(ws, { request, user: { id: 'u1' }, userId: 'u1', pathname });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const tunnel = (n: number) => host.get(`tunnel:${n}`);
  return {
    clock,
    host,
    route,
    port,
    serverSockets,
    url: (path) => `ws://127.0.0.1:${port}${path}`,
    tunnel,
    tunnelContext(n) {
      const actor = tunnel(n);
      if (!actor) throw new Error(`tunnel:${n} is not live`);
      return actor.getSnapshot().context as PluginTunnelContext;
    },
    async close() {
      await route.close();
      for (const ws of serverSockets) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      host.shutdown();
    },
  };
}

/** A test client socket that records every frame and its close. */
export interface TestClient {
  ws: WebSocket;
  received: SeenFrame[];
  closeEvent: { code: number; reason: string } | null;
  opened: Promise<void>;
  closed: Promise<{ code: number; reason: string }>;
  /** Waits until `count` frames have arrived. */
  frames(count: number): Promise<SeenFrame[]>;
}

export function connectClient(url: string): TestClient {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const client: TestClient = {
    ws,
    received: [],
    closeEvent: null,
    opened: new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    closed: new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        client.closeEvent = { code, reason: reason.toString() };
        resolve(client.closeEvent);
      });
    }),
    async frames(count) {
      await waitFor(`${count} frames at the client`, () => client.received.length >= count);
      return client.received.slice(0, count);
    },
  };
  ws.on('error', () => {});
  // Marked handled here; a test that awaits `opened` still sees the rejection.
  client.opened.catch(() => {});
  ws.on('message', (data, isBinary) => client.received.push({ data: data as Buffer, isBinary }));
  return client;
}
