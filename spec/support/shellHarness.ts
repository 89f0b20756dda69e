/**
 * A minimal server for /shell specs until the real createWebSocketServer is wired: node:http on
 * 127.0.0.1:0, a noServer WebSocketServer, the shell route, and an actor host driven by a
 * SimulatedClock (so detach timeouts are reached by `clock.increment`). `?user=<id>` picks the
 * connecting user (default `u1`).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { suite } from 'uvu';

import { WebSocketServer } from 'ws';
import { SimulatedClock } from 'xstate';

import { createActorHost, type ActorHost } from '../../gateway/actorHost.js';
import { wireMachines } from '../../gateway/wiring.js';
import { resolveLimits, type GatewayLimits } from '../../gateway/config.js';
import { silentLogger } from '../../gateway/logger.js';
import { createShellRoute, type ShellRoute, type ShellRouteOptions } from '../../gateway/shell/shellRoute.js';
import { ShellTestClient, type ShellClientOptions } from './shellClient.js';

export interface ShellHarnessOptions {
  limits?: Partial<GatewayLimits>;
  shell?: ShellRouteOptions['shell'];
  sessions?: ShellRouteOptions['sessions'];
  environment?: NodeJS.ProcessEnv;
  spawnPty?: ShellRouteOptions['spawnPty'];
  /** [cluster] This node's id and a PTY-key registry (a fake one in specs without Redis). */
  cluster?: ShellRouteOptions['cluster'];
  logger?: ShellRouteOptions['logger'];
}

export interface ShellHarness {
  url: string;
  route: ShellRoute;
  host: ActorHost;
  clock: SimulatedClock;
  connect(options?: ShellClientOptions & { user?: string }): Promise<ShellTestClient>;
  close(): Promise<void>;
}

export async function startShellHarness(options: ShellHarnessOptions = {}): Promise<ShellHarness> {
  const clock = new SimulatedClock();
  const host = createActorHost({ clock });
  const limits = resolveLimits(options.limits);
  const route = createShellRoute({
    host,
    limits,
    logger: options.logger ?? silentLogger,
    shell: options.shell,
    sessions: options.sessions,
    environment: options.environment,
    spawnPty: options.spawnPty,
    cluster: options.cluster,
  });
  host.start(wireMachines({ shell: route.effects }));

  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxPayloadBytes });
  server.on('upgrade', (request, socket, head) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname !== '/shell') {
      socket.destroy();
      return;
    }
    const user = url.searchParams.get('user') ?? 'u1';
    wss.handleUpgrade(request, socket, head, (ws) => {
      route.handle(ws, { request, user: { id: user }, userId: user, pathname: '/shell' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `ws://127.0.0.1:${port}/shell`;
  const clients: ShellTestClient[] = [];

  return {
    url,
    route,
    host,
    clock,
    async connect(clientOptions = {}) {
      const client = await ShellTestClient.connect(`${url}?user=${clientOptions.user ?? 'u1'}`, clientOptions);
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await route.close();
      host.shutdown();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `check` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function eventually<T>(check: () => T | Promise<T>, what: string, timeoutMs = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** True while a process with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface ShellSuiteContext {
  harness: ShellHarness;
  /** A temporary directory (its real path) for the suite's PTYs to start in. */
  dir: string;
}

/** A uvu suite with one shell harness and one temporary directory around all its tests. */
export function shellSuite(name: string, options: ShellHarnessOptions = {}) {
  const test = suite<ShellSuiteContext>(name, { harness: null!, dir: '' });
  test.before(async (context) => {
    context.dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ag-')));
    context.harness = await startShellHarness(options);
  });
  test.after(async ({ harness, dir }) => {
    await harness.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return test;
}
