import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import { openDatabase } from '../persistence/database.js';
import { createSqliteSessionStore } from '../persistence/sessionStore.js';
import type { CliOptions } from './cli/options.js';
import { createRestHandler } from './cli/rest.js';
import { createStaticHandler } from './cli/static.js';
import { loadOrCreateToken } from './cli/token.js';
import { createWebSocketServer, type GatewayHandle } from './createWebSocketServer.js';
import { createDemoRuntime } from './demoAgent.js';
import { createGatewayInspector, type GatewayInspector } from './inspect.js';
import { startInspectorBridge, type InspectorBridge } from './inspectBridge.js';
import { createConsoleLogger } from './logger.js';
import type { SpawnPty } from './shell/ptyProcesses.js';
import type { ProviderRuntime } from './types.js';

/**
 * The standalone server behind the `agent-gateway` command: one http server with the REST
 * routes, the gateway's sockets, the built-in demo agent, and SQLite under the data dir.
 */

export const DATABASE_FILE_NAME = 'agent-gateway.sqlite';

export interface Standalone {
  /** http://host:port */
  url: string;
  port: number;
  token: string;
  gateway: GatewayHandle;
  close(): Promise<void>;
}

/** What `agent-gateway record` changes in the standalone server (gateway/recording/recordCommand.ts). */
export interface StandaloneHooks {
  /** Wraps the demo runtime before the gateway gets it. */
  wrapRuntime?(runtime: ProviderRuntime): ProviderRuntime;
  /** node-pty's spawn for the gateway's shells. */
  spawnPty?: SpawnPty;
  /** Called with the gateway before it accepts a connection. */
  onGateway?(gateway: GatewayHandle): void;
}

/** Constant-time token comparison (hashing first makes the lengths equal). */
function tokenMatches(expected: string, given: string | null): boolean {
  if (given === null) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

export async function startStandalone(
  options: CliOptions,
  print: (line: string) => void = console.log,
  hooks: StandaloneHooks = {},
): Promise<Standalone> {
  const logger = createConsoleLogger(options.logLevel);
  const { token } = loadOrCreateToken(options.dataDir, options.token);
  const databasePath = join(options.dataDir, DATABASE_FILE_NAME);
  // The REST routes' own connection to the same file (WAL lets the two work side by side).
  const storeDatabase = openDatabase(databasePath);
  const sessions = createSqliteSessionStore(storeDatabase);
  const runtime = createDemoRuntime({
    deltaIntervalMs: options.demoPaceMs,
    permissionTimeoutMs: options.permissionTimeoutMs,
  });

  let gateway: GatewayHandle | null = null;
  const rest = createRestHandler({
    token,
    sessions,
    providers: () => runtime.providers,
    listRunningRuns: () => gateway?.chatRunRegistry.listRunningRuns() ?? [],
    health: () => ({ ...(gateway?.health() ?? { status: 'starting' }) }),
    listActors: () => gateway?.listActors() ?? { chat: [], shell: [] },
    clientConfig: () => ({ defaultProjectPath: process.cwd(), providers: runtime.providers }),
    logger,
  });
  const playground = createStaticHandler({ logger });
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (rest(req, res)) return;
    if (playground(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'Not found' }));
  });
  // --inspect: our own bridge on 127.0.0.1 (no URL given), else the relay at the URL.
  let bridge: InspectorBridge | null = null;
  let inspector: GatewayInspector | null = null;
  if (options.inspect !== undefined) {
    if (options.inspect === true) bridge = await startInspectorBridge();
    inspector = createGatewayInspector({ url: bridge ? bridge.wsUrl : (options.inspect as string) });
  }
  const stopInspecting = async () => {
    inspector?.stop();
    await bridge?.close();
  };
  gateway = createWebSocketServer(server, {
    verifyClient: {
      authenticateWebSocket: (given) => (tokenMatches(token, given) ? { id: 'local', username: 'local' } : null),
    },
    chat: { runtime: hooks.wrapRuntime ? hooks.wrapRuntime(runtime) : runtime },
    ...(hooks.spawnPty ? { shell: { spawnPty: hooks.spawnPty } } : {}),
    ...(inspector ? { inspect: inspector.inspect } : {}),
    sessions,
    getPluginPort: (name) => (Object.hasOwn(options.plugins, name) ? options.plugins[name] : null),
    databasePath,
    allowedOrigins: options.allowedOrigins,
    logger,
  });
  hooks.onGateway?.(gateway);

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await gateway.close();
    await stopInspecting();
    storeDatabase.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  print(`agent-gateway listening on ${url}`);
  print(`  token:  ${token}`);
  print(`  playground: ${url}/?token=${encodeURIComponent(token)}`);
  print(`  chat:   ws://${host}:${port}/ws?token=<token>`);
  print(`  shell:  ws://${host}:${port}/shell?token=<token>`);
  print(`  REST:   POST ${url}/api/providers/sessions  (Authorization: Bearer <token>)`);
  print(`  data:   ${databasePath}`);
  if (bridge) print(`  inspect: open ${bridge.pageUrl} in a browser (Stately inspector; events at ${bridge.wsUrl})`);
  else if (inspector) print(`  inspect: actor events go to ${inspector.url}`);

  const handle = gateway;
  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    token,
    gateway: handle,
    close() {
      closing ??= (async () => {
        await handle.close();
        await stopInspecting();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        storeDatabase.close();
      })();
      return closing;
    },
  };
}
