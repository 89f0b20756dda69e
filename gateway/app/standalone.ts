import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';

import type { ClusterBackend } from '../../persistence/cluster/types.js';
import { openDatabase, type GatewayDatabase } from '../../persistence/database.js';
import { createSqliteSessionStore, type SqliteSessionStore } from '../../persistence/sessionStore.js';
import { clusterRunningRuns, clusterSessionRoutes, openClusterBackend } from './cli/clusterRest.js';
import { securePrivateDir, securePrivateFiles } from './cli/dataDir.js';
import { httpPathname } from './cli/httpPath.js';
import { defaultNodeId, redactRedisUrl, type CliOptions } from './cli/options.js';
import { createRestHandler, type RestDeps } from './cli/rest.js';
import type { SessionHistory, SessionRoutesDeps } from './cli/restSessions.js';
import { createStaticHandler } from './cli/static.js';
import { loadOrCreateToken } from './cli/token.js';
import { resolveLimits, type GatewayLimits } from '../config.js';
import { createWebSocketServer, type GatewayHandle } from '../createWebSocketServer.js';
import { createDemoRuntime } from './demoAgent.js';
import { createAcpRuntime } from './agents/acpRuntime.js';
import { createAttentionNotifier, redactNotifyUrl } from './attentionNotifier.js';
import { resolveStandaloneAgents } from './agents/agentsFile.js';
import { describeCommand } from './agents/agentSpecs.js';
import { createCompositeRuntime } from './agents/compositeRuntime.js';
import { redactSecrets } from './agents/redact.js';
import { createGatewayInspector, type GatewayInspector } from '../inspect.js';
import { startInspectorBridge, type InspectorBridge } from './inspectBridge.js';
import { createConsoleLogger } from '../logger.js';
import { v8FlagsMissingFromCommandLine } from '../v8Tuning.js';
import type { SpawnPty } from '../shell/ptyProcesses.js';
import { resolveShellUser } from '../shell/shellUser.js';
import { createWorkspacePolicy, isInsideRoot, resolveWorkspaceRoots } from '../shell/shellWorkspace.js';
import type { AttentionEvent, ProviderRuntime, ShellDeps } from '../types.js';

/**
 * The standalone server behind the `agent-gateway` command: one http server with the REST
 * routes, the gateway's sockets, the built-in demo agent, and SQLite under the data dir, or, with
 * `--redis`, a node of a cluster whose sessions, logs and runs live in Redis (docs/CLUSTER.md).
 */

export const DATABASE_FILE_NAME = 'agent-gateway.sqlite';

/**
 * The standalone http server's timeouts. Node's defaults (headers 60 s, whole request 300 s, both
 * checked every 30 s) let 3 000 half-sent upgrade requests hold a socket each for 70–100 s. An
 * upgrade request is nothing but headers, and a real client sends them at once. Upgraded sockets
 * are not subject to these (the heartbeat watches them). Idle keep-alive connections keep Node's
 * 5 s `keepAliveTimeout`. An embedding host owns its server: docs/EMBEDDING.md says what to set.
 */
export const STANDALONE_HTTP_TIMEOUTS = {
  /** Headers not complete by then: 408 and the connection is closed. */
  headersTimeoutMs: 10_000,
  /** A whole request, body included (a REST body is at most 64 KiB). Must be >= headersTimeoutMs. */
  requestTimeoutMs: 30_000,
  /** How often Node checks the two above; its 30 s default would add up to 30 s to each. */
  connectionsCheckingIntervalMs: 1_000,
} as const;

export type StandaloneHttpTimeouts = { -readonly [K in keyof typeof STANDALONE_HTTP_TIMEOUTS]: number };

export interface Standalone {
  /** http://host:port */
  url: string;
  port: number;
  token: string;
  gateway: GatewayHandle;
  close(): Promise<void>;
}

/** What `agent-gateway record` (gateway/recording/recordCommand.ts) and tests change in the standalone server. */
export interface StandaloneHooks {
  /** Wraps the demo runtime before the gateway gets it. */
  wrapRuntime?(runtime: ProviderRuntime): ProviderRuntime;
  /** node-pty's spawn for the gateway's shells. */
  spawnPty?: SpawnPty;
  /** Called with the gateway before it accepts a connection. */
  onGateway?(gateway: GatewayHandle): void;
  /** Limits over DEFAULT_LIMITS, for the gateway and the REST routes (`maxStoredSessions`, `maxProjectPathBytes`). */
  limits?: Partial<GatewayLimits>;
  /** Timeouts over STANDALONE_HTTP_TIMEOUTS. */
  httpTimeouts?: Partial<StandaloneHttpTimeouts>;
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
  const limits = resolveLimits(hooks.limits);
  const timeouts: StandaloneHttpTimeouts = { ...STANDALONE_HTTP_TIMEOUTS, ...hooks.httpTimeouts };
  // First: a --shell-user the gateway cannot switch to fails before anything is created.
  const shellUser = options.shellUser === undefined ? null : resolveShellUser(options.shellUser, '--shell-user');
  // So does a workspace root that is not a directory: a typo must not quietly admit nothing.
  const startDir = process.cwd();
  const workspaceRoots = await resolveWorkspaceRoots(options.workspaceRoots.length > 0 ? options.workspaceRoots : [startDir], '--workspace-root');
  const workspace = createWorkspacePolicy(workspaceRoots);
  // ACP agents (--agent, GATEWAY_AGENTS, --agents-file): an unreadable file fails the start too.
  const agents = resolveStandaloneAgents(options);
  securePrivateDir(options.dataDir);
  // The data dir holds the token in cluster mode too (nodes must share it: see the banner).
  const { token, source: tokenSource } = loadOrCreateToken(options.dataDir, options.token);
  const databasePath = join(options.dataDir, DATABASE_FILE_NAME);
  // Cluster mode: the shared backend, opened last of what can fail on the command line's account
  // (a Redis that cannot be reached fails the start with its URL, password left out). No SQLite.
  const cluster: ClusterBackend | null = options.redisUrl
    ? await openClusterBackend({
        url: options.redisUrl,
        nodeId: options.nodeId ?? defaultNodeId(hostname(), options.port, process.pid),
        maxEventsPerSession: limits.maxEventsPerSession,
        maxBytesPerSession: limits.maxBytesPerSession,
        tailEvents: limits.replayTailEvents,
        ...(options.runLeaseMs !== undefined ? { leaseMs: options.runLeaseMs } : {}),
        logger,
      })
    : null;
  // One node: the REST routes' own connection to the same file (WAL lets the two work side by side).
  const storeDatabase: GatewayDatabase | null = cluster ? null : openDatabase(databasePath);
  const sessions: SqliteSessionStore | null = storeDatabase ? createSqliteSessionStore(storeDatabase) : null;
  const demo = createDemoRuntime({
    deltaIntervalMs: options.demoPaceMs,
    permissionTimeoutMs: options.permissionTimeoutMs,
  });
  // The demo stays the default; each configured agent is one more provider.
  const runtime = createCompositeRuntime(agents.length > 0 ? [demo, createAcpRuntime({ agents, logger })] : [demo]);
  const agentList = agents.map((agent) => ({ name: agent.name, command: redactSecrets(describeCommand(agent)) }));

  // --notify-url: attention events (approval asked, run ended, nobody watching) POSTed there.
  const notifier = options.notifyUrl ? createAttentionNotifier({ url: options.notifyUrl, logger }) : null;
  let gateway: GatewayHandle | null = null;
  let restSessions: Pick<RestDeps, 'sessions' | 'sessionRoutes' | 'listRunningRuns'>;
  if (cluster) {
    restSessions = {
      sessions: cluster.sessions,
      sessionRoutes: clusterSessionRoutes(cluster, () => gateway),
      listRunningRuns: clusterRunningRuns(cluster),
    };
  } else {
    const store = sessions as SqliteSessionStore;
    const history: SessionHistory = {
      read: (sessionId, afterSeq, limit) => gateway?.eventLog.read(sessionId, afterSeq, limit) ?? [],
      latestSeq: (sessionId) => gateway?.eventLog.latestSeq(sessionId) ?? 0,
      oldestSeq: (sessionId) => gateway?.eventLog.oldestSeq(sessionId) ?? 0,
      whenWritten: (callback) => (gateway?.eventLog.whenWritten ? gateway.eventLog.whenWritten(callback) : callback()),
    };
    const sessionRoutes: SessionRoutesDeps = {
      listSessions: (page) => store.listSessions(page),
      deleteSession: (sessionId) => store.deleteSession(sessionId),
      hasSession: (sessionId) => store.getSession(sessionId) !== null,
      isRunning: (sessionId) => gateway?.chatRunRegistry.isProcessing(sessionId) ?? false,
      history,
      forgetSession: (sessionId) => gateway?.forgetSession(sessionId) ?? true,
    };
    restSessions = { sessions: store, sessionRoutes, listRunningRuns: () => gateway?.chatRunRegistry.listRunningRuns() ?? [] };
  }
  const rest = createRestHandler({
    token,
    ...restSessions,
    providers: () => runtime.providers,
    health: () => ({ ...(gateway?.health() ?? { status: 'starting' }) }),
    listActors: () => gateway?.listActors() ?? { chat: [], shell: [] },
    clientConfig: () => ({
      // The start directory when sessions may use it, else the first root.
      defaultProjectPath: workspaceRoots.some((root) => isInsideRoot(startDir, root)) ? startDir : workspaceRoots[0],
      providers: runtime.providers,
      workspaceRoots,
      agents: agentList,
    }),
    workspace,
    logger,
    maxProjectPathBytes: limits.maxProjectPathBytes,
    maxStoredSessions: limits.maxStoredSessions,
  });
  const playground = createStaticHandler({ logger });
  const serverOptions = {
    headersTimeout: timeouts.headersTimeoutMs,
    requestTimeout: timeouts.requestTimeoutMs,
    connectionsCheckingInterval: timeouts.connectionsCheckingIntervalMs,
  };
  const server = createServer(serverOptions, (req: IncomingMessage, res: ServerResponse) => {
    // `GET http://[::1/x` gets past Node's parser but names no path: 400, as for an upgrade.
    if (httpPathname(req.url) === null) {
      res.writeHead(400, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: 'Malformed request target' }));
      return;
    }
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
  const shell: ShellDeps = {
    ...(hooks.spawnPty ? { spawnPty: hooks.spawnPty } : {}),
    ...(shellUser ? { user: shellUser.uid } : {}),
    allowedRoots: workspaceRoots,
  };
  gateway = createWebSocketServer(server, {
    verifyClient: {
      authenticateWebSocket: (given) => (tokenMatches(token, given) ? { id: 'local', username: 'local' } : null),
    },
    chat: {
      runtime: hooks.wrapRuntime ? hooks.wrapRuntime(runtime) : runtime,
      ...(notifier ? { onAttention: (event: AttentionEvent) => notifier.notify(event) } : {}),
    },
    shell,
    ...(inspector ? { inspect: inspector.inspect } : {}),
    // Cluster mode: the backend instead of a store and a database file.
    ...(cluster ? { cluster } : { sessions: sessions as SqliteSessionStore, databasePath }),
    getPluginPort: (name) => (Object.hasOwn(options.plugins, name) ? options.plugins[name] : null),
    allowedOrigins: options.allowedOrigins,
    limits,
    logger,
  });
  // Both connections are open, so the database and its -wal/-shm exist now.
  const dataFiles = cluster ? [] : [DATABASE_FILE_NAME, `${DATABASE_FILE_NAME}-wal`, `${DATABASE_FILE_NAME}-shm`];
  for (const { file, error } of securePrivateFiles(options.dataDir, dataFiles)) {
    logger.warn('Could not make a data file owner-only', { file, error });
  }
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
    await runtime.close();
    await notifier?.close();
    await stopInspecting();
    storeDatabase?.close();
    await cluster?.close();
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
  if (cluster && options.redisUrl) {
    print(`  data:   redis ${redactRedisUrl(options.redisUrl)}  (node ${cluster.nodeId}; --node-id)`);
    // Every node checks the same bearer token: a token generated into this data dir is this node's alone.
    print(
      tokenSource === 'env'
        ? '  cluster: every node must be started with this same GATEWAY_TOKEN'
        : `  cluster: every node must share one token: start each with GATEWAY_TOKEN=<the token above> (this one is in ${join(options.dataDir, 'token')})`,
    );
    print('  cluster: /shell terminals stay on the node that started them: route each client back to it (sticky)');
  } else {
    print(`  data:   ${databasePath}`);
  }
  print(`  workspace: ${workspaceRoots.join(', ')}${workspaceRoots.includes('/') ? ' (any directory)' : ''}  (sessions and shells; --workspace-root)`);
  for (const agent of agentList) print(`  agent:  ${agent.name} = ${agent.command}  (ACP)`);
  if (options.notifyUrl) print(`  notify: ${redactNotifyUrl(options.notifyUrl)}  (approvals and ended runs nobody watches)`);
  if (shellUser) print(`  terminals run as: ${shellUser.name} (uid ${shellUser.uid})`);
  if (bridge) print(`  inspect: open ${bridge.pageUrl} in a browser (Stately inspector; events at ${bridge.wsUrl})`);
  else if (inspector) print(`  inspect: actor events go to ${inspector.url}`);
  const missingFlags = v8FlagsMissingFromCommandLine();
  if (missingFlags.length > 0) print(`  node:   started without ${missingFlags.join(' ')}: a burst after idle time costs more CPU (README, "Node flags")`);

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
        // After the gateway's close aborted the runs: stop every agent process group.
        await runtime.close();
        await notifier?.close();
        await stopInspecting();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        storeDatabase?.close();
        // Last: the gateway's close wrote its last events and dropped its terminals through it.
        await cluster?.close();
      })();
      return closing;
    },
  };
}
