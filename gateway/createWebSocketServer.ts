import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';

import { WebSocket, WebSocketServer } from 'ws';

import { openDatabase, type GatewayDatabase } from '../persistence/database.js';
import { createSqliteEventLog, type SqliteEventLog } from '../persistence/eventLog.js';
import { createSqliteSessionStore } from '../persistence/sessionStore.js';
import type { BackendHealth } from '../persistence/cluster/types.js';
import type { ClusterEventLog } from '../persistence/cluster/types.js';
import type { ChatEventLog, EventLogHealth, SessionStore } from '../persistence/types.js';
import { CLOSE, CLOSE_CODES } from '../machines/protocolCodes.js';
import { createActorHost } from './actorHost.js';
import { createChatRoute, type RunningRun } from './chat/chatRoute.js';
import { resolveLimits, type GatewayLimits } from './config.js';
import { startHeartbeat } from './heartbeat.js';
import { createConsoleLogger, redactUrl, type Logger } from './logger.js';
import { createPluginRoute } from './plugin/pluginRoute.js';
import { createRateLimiter, type RateLimiter } from './rateLimit.js';
import type { ConnectionContext, RouteHandler } from './route.js';
import { createSendBudget } from './sendBudget.js';
import { createShellRoute } from './shell/shellRoute.js';
import { resolveShellUser } from './shell/shellUser.js';
import type { ChatDeps, GatewayDeps, GatewayUser } from './types.js';
import { authenticateUpgrade, isOriginAllowed, parseRequestTarget, rejectUpgrade, userExpiry, userIdOf, watchTokenExpiry } from './upgrade.js';
import { wireMachines } from './wiring.js';

/**
 * The gateway's assembly: opens persistence, builds the three routes (each builds the effects
 * its machine names), hands those effects to the machines in the wiring module (wiring.ts,
 * the one place that calls `provide`), starts the actor system, and routes upgrades.
 */

export const DEFAULT_DATABASE_PATH = './data/agent-gateway.sqlite';

/** Every close code the gateway sends, by name (the table is machines/protocolCodes.ts). */
export { CLOSE_CODES };

/**
 * The request target's path exactly as sent, query dropped. Not `new URL(...).pathname`: that
 * resolves `..` and `%2e%2e` segments, so `/plugin-ws/a/../b` would open a tunnel to plugin `b`
 * and `/plugin-ws/..` would be an unknown path instead of an invalid plugin name (4400).
 * `parsed` is the target already parsed (`parseRequestTarget`): a target that does not parse is
 * refused with 400 before this is called.
 */
function requestPathname(url: string | undefined, parsed: URL): string {
  const target = url ?? '/';
  // Absolute-form targets (`GET http://host/ws`) come from proxies; only they need the parse.
  if (!target.startsWith('/')) return parsed.pathname;
  const end = target.search(/[?#]/);
  return end === -1 ? target : target.slice(0, end);
}

function destroySocket(this: Duplex): void {
  this.destroy();
}

/** Each socket's token bucket, for the one rate-limit listener all sockets share (a closure per socket costs memory per open socket). */
const rateLimiters = new WeakMap<WebSocket, RateLimiter>();

function limitFrame(this: WebSocket): void {
  const limiter = rateLimiters.get(this);
  if (!limiter || limiter.take()) return;
  this.removeAllListeners('message');
  this.close(CLOSE.RATE_LIMIT.code, CLOSE.RATE_LIMIT.reason);
}

/** How long close() waits for clients to answer the 1001 close frame before cutting them. */
const SHUTDOWN_CLOSE_GRACE_MS = 2000;

export interface ChatRunRegistry {
  /**
   * Typed with the caller's provider union (claudecodeui's `LLMProvider`): a run's provider is
   * one the host's runtime accepted (`hasRuntime`) when the run started.
   */
  listRunningRuns<TProvider extends string = string>(): Array<RunningRun<TProvider>>;
  isProcessing(sessionId: string): boolean;
}

export interface GatewayHealth {
  status: 'ok' | 'degraded';
  eventLog: EventLogHealth;
  sockets: number;
  runningRuns: number;
  /** [cluster] Only in cluster mode: this node's id and the shared backend's reachability (down: `degraded`). */
  cluster?: { nodeId: string; backend: BackendHealth };
}

export interface GatewayHandle {
  /** The underlying `ws` server: `wss.clients` holds every socket of every route. */
  readonly wss: WebSocketServer;
  /** Every open socket of every route (the same set as `wss.clients`). */
  readonly clients: Set<WebSocket>;
  /** Open `/ws` sockets, for host broadcasts in claudecodeui's shape. */
  readonly connectedClients: Set<WebSocket>;
  readonly chatRunRegistry: ChatRunRegistry;
  /** Sends a gateway frame to every `/ws` socket. */
  broadcast(frame: Record<string, unknown>): void;
  health(): GatewayHealth;
  /** Live actors by kind and state (read-only), for the inspector panel and `/api/actors`. */
  listActors(): { chat: unknown[]; shell: unknown[]; nodeId?: string };
  readonly limits: Readonly<GatewayLimits>;
  /**
   * The durable chat log, for reading a session's history (the standalone server's
   * `GET /api/providers/sessions/:id/messages`). Reads see events not yet written too;
   * `whenWritten` calls back once they are.
   */
  readonly eventLog: Pick<ChatEventLog, 'read' | 'latestSeq' | 'oldestSeq' | 'whenWritten'>;
  /**
   * Forgets a deleted session: its live actor closes and its log and runs go. Answers false, and
   * does nothing, while a run is running there. The session row is the host's to delete.
   */
  forgetSession(sessionId: string): boolean;
  /** Graceful shutdown: 1001 to every socket, runs completed, PTYs killed, tunnels closed, log flushed. */
  close(): Promise<void>;
}

/** A request as routes and host callbacks see it: with the authenticated user attached. */
type AuthenticatedRequest = IncomingMessage & { user?: GatewayUser };

export function createWebSocketServer<TProvider extends string = string>(
  server: HttpServer,
  deps: GatewayDeps<TProvider>,
): GatewayHandle {
  if (!deps || typeof deps !== 'object') throw new TypeError('createWebSocketServer: deps are required');
  if (!deps.verifyClient || typeof deps.verifyClient.authenticateWebSocket !== 'function') {
    throw new TypeError('createWebSocketServer: deps.verifyClient.authenticateWebSocket must be a function');
  }
  if (!deps.chat?.runtime) throw new TypeError('createWebSocketServer: deps.chat.runtime is required');

  const limits = resolveLimits(deps.limits);
  // Before anything is opened: a shell user that cannot be switched to refuses construction.
  const shellUser = deps.shell?.user === undefined ? null : resolveShellUser(deps.shell.user);
  const logger: Logger = deps.logger ?? createConsoleLogger('info');
  const allowedOrigins = deps.allowedOrigins ?? [];

  // ---- persistence ----
  // A cluster node keeps its log and sessions in the shared backend; its owner closes that.
  const { cluster } = deps;
  // The chat log's connection checkpoints on a thread of its own: never on the event loop.
  const database: GatewayDatabase | null = cluster ? null : openDatabase(deps.databasePath ?? DEFAULT_DATABASE_PATH, { checkpoints: 'worker', logger });
  const log: SqliteEventLog | ClusterEventLog =
    cluster?.eventLog ??
    createSqliteEventLog(database as GatewayDatabase, {
      maxEventsPerSession: limits.maxEventsPerSession,
      maxBytesPerSession: limits.maxBytesPerSession,
      tailEvents: limits.replayTailEvents,
      batchMaxEvents: limits.logBatchMaxEvents,
      logger,
    });
  const sessions: SessionStore = cluster?.sessions ?? deps.sessions ?? createSqliteSessionStore(database as GatewayDatabase);

  // ---- actors and routes ----
  const host = createActorHost({ clock: deps.clock, inspect: deps.inspect });
  // One bound on bytes queued to all /ws and /shell sockets together (maxTotalSocketBufferBytes).
  const sendBudget = createSendBudget(limits.maxTotalSocketBufferBytes);
  const chat = createChatRoute({
    host,
    limits,
    logger,
    runtime: deps.chat.runtime as never,
    prepareRun: deps.chat.prepareRun as ChatDeps['prepareRun'],
    onAttention: deps.chat.onAttention,
    sessions,
    log,
    sendBudget,
    cluster,
  });
  const shell = createShellRoute({ host, limits, logger, shell: deps.shell, user: shellUser, sessions, spawnPty: deps.shell?.spawnPty, sendBudget, cluster: deps.cluster });
  const plugin = createPluginRoute({ host, limits, logger, getPluginPort: deps.getPluginPort });
  host.start(wireMachines({ chat: chat.effects, shell: shell.effects, plugin: plugin.effects }));
  chat.recoverInterruptedRuns();

  const routeFor = (pathname: string): RouteHandler | null => {
    if (pathname === '/ws') return chat;
    if (pathname === '/shell') return shell;
    if (pathname.startsWith('/plugin-ws/')) return plugin;
    return null;
  };

  // ---- transport ----
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxPayloadBytes,
    perMessageDeflate: false,
    clientTracking: true,
  });
  const stopHeartbeat = startHeartbeat(wss, limits.heartbeatIntervalMs);
  const expiryWatches = new Set<() => void>();
  let closed = false;

  /** A token's expiry counts down on the gateway's clock (a `SimulatedClock` in tests). */
  const watchExpiry = (ws: WebSocket, user: GatewayUser) => {
    // A token without an expiry has nothing to watch: no timer, listener or closure per socket.
    if (userExpiry(user) === null) return;
    const cancel = watchTokenExpiry(user, () => ws.close(CLOSE.TOKEN_EXPIRED.code, CLOSE.TOKEN_EXPIRED.reason), { clock: deps.clock });
    expiryWatches.add(cancel);
    ws.once('close', () => {
      cancel();
      expiryWatches.delete(cancel);
    });
  };

  const limitRate = (ws: WebSocket) => {
    rateLimiters.set(ws, createRateLimiter(limits.rateLimitPerSecond, limits.rateLimitBurst));
    // Registered before the route's own listener, so a frame over the limit is never handled.
    ws.prependListener('message', limitFrame);
  };

  /**
   * One `error` listener per route path (`/ws`, `/shell`, a host route), shared by its sockets: a
   * listener per socket would be a closure over that socket's own copy of the path. Other paths
   * (plugin tunnels, unknown paths) get one of their own, so the cache stays bounded.
   */
  const errorListeners = new Map<string, (error: Error) => void>();
  const errorListenerFor = (pathname: string) => {
    let listener = errorListeners.get(pathname);
    if (listener) return listener;
    listener = (error: Error) => logger.debug('Socket error', { pathname, error: String(error) });
    if (pathname === '/ws' || pathname === '/shell' || deps.routes?.[pathname]) errorListeners.set(pathname, listener);
    return listener;
  };

  const onConnection = (ws: WebSocket, request: AuthenticatedRequest, user: GatewayUser, pathname: string) => {
    ws.on('error', errorListenerFor(pathname));
    watchExpiry(ws, user);
    const extra = deps.routes?.[pathname];
    if (extra) {
      limitRate(ws);
      extra(ws, request);
      return;
    }
    const route = routeFor(pathname);
    if (!route) {
      logger.warn('Unknown WebSocket path', { pathname });
      ws.close(CLOSE.UNKNOWN_PATH.code, CLOSE.UNKNOWN_PATH.reason);
      return;
    }
    const context: ConnectionContext = { request, user, userId: userIdOf(user), pathname };
    // Counted from its first frame on (plugin tunnels have back-pressure of their own). `/ws`
    // tracks its sockets itself and forgets them in its own close listener (chatRoute.ts).
    if (route === shell) sendBudget.track(ws);
    route.handle(ws, context);
    // After the route attached its listener: prependListener still puts the limiter first.
    limitRate(ws);
  };

  const onUpgrade = async (request: AuthenticatedRequest, socket: Duplex, head: Buffer) => {
    // A module-level listener: a closure here would capture this scope (request, headers, auth)
    // for as long as the socket lives, ~1.3 KB per open socket.
    socket.on('error', destroySocket);
    if (closed) return rejectUpgrade(socket, 503);
    // `GET http://[::1/ws`: no route, no token can be read from it. 400 before anything else reads
    // it (the URL itself is not logged: it may hold a token that cannot be redacted).
    const target = parseRequestTarget(request.url);
    if (target === null) {
      logger.warn('WebSocket upgrade with a malformed request target refused', { status: 400 });
      return rejectUpgrade(socket, 400);
    }
    const pathname = requestPathname(request.url, target);
    if (!isOriginAllowed(request, allowedOrigins)) {
      logger.warn('WebSocket upgrade from a foreign origin refused', { origin: request.headers.origin, pathname });
      return rejectUpgrade(socket, 403);
    }
    const auth = await authenticateUpgrade(request, deps.verifyClient);
    if (!auth.ok) {
      logger.warn('WebSocket upgrade refused', { url: redactUrl(request.url), status: auth.status });
      return rejectUpgrade(socket, auth.status);
    }
    if (socket.destroyed || closed) return;
    request.user = auth.user;
    wss.handleUpgrade(request, socket, head, (ws) => {
      // From here `ws` destroys the socket on an error itself (its own listener, added by then).
      socket.off('error', destroySocket);
      wss.emit('connection', ws, request);
      onConnection(ws, request, auth.user, pathname);
    });
  };
  const upgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(request, socket, head).catch((error: unknown) => {
      logger.error('Upgrade failed', { error: String(error) });
      rejectUpgrade(socket, 500);
    });
  };
  server.on('upgrade', upgradeListener);

  const handle: GatewayHandle = {
    wss,
    clients: wss.clients,
    connectedClients: chat.clients,
    chatRunRegistry: {
      listRunningRuns: <TProvider extends string>() => chat.listRunningRuns() as Array<RunningRun<TProvider>>,
      isProcessing: (sessionId) => chat.isProcessing(sessionId),
    },
    broadcast: (frame) => chat.broadcast(frame),
    limits,
    eventLog: log,
    forgetSession: (sessionId) => chat.forgetSession(sessionId),
    health() {
      const eventLog = log.health();
      // [cluster] A node that cannot reach the backend serves nothing durable: degraded.
      const backend = deps.cluster?.health();
      return {
        status: eventLog.degraded || backend?.connected === false ? 'degraded' : 'ok',
        eventLog,
        sockets: wss.clients.size,
        runningRuns: chat.listRunningRuns().length,
        ...(deps.cluster && backend ? { cluster: { nodeId: deps.cluster.nodeId, backend } } : {}),
      };
    },
    listActors() {
      // [cluster] The actors are this node's only: the answer says which node that is.
      return { chat: chat.listSessions(), shell: shell.listActors(), ...(deps.cluster ? { nodeId: deps.cluster.nodeId } : {}) };
    },
    async close() {
      if (closed) return;
      closed = true;
      server.off('upgrade', upgradeListener);
      stopHeartbeat();
      for (const cancel of expiryWatches) cancel();
      await Promise.all([chat.close(), shell.close(), plugin.close()]);
      for (const ws of wss.clients) {
        if (ws.readyState === WebSocket.OPEN) ws.close(CLOSE.SERVER_SHUTTING_DOWN.code, CLOSE.SERVER_SHUTTING_DOWN.reason);
      }
      // ws calls back only once every socket has finished its closing handshake, which a peer that
      // stopped reading never does (ws would wait 30 s per socket): the wait is bounded.
      await new Promise<void>((resolve) => {
        const grace = setTimeout(resolve, SHUTDOWN_CLOSE_GRACE_MS);
        wss.close(() => {
          clearTimeout(grace);
          resolve();
        });
      });
      // Sockets that did not finish the closing handshake in time are cut.
      for (const ws of wss.clients) ws.terminate();
      host.shutdown();
      if (cluster) log.flush();
      else log.close();
      database?.close();
      // The checkpoint thread's last checkpoint: the file is settled when close() resolves.
      await database?.closed();
      registered.delete(handle);
    },
  };
  registered.add(handle);
  return handle;
}

// ---- module-level registries, in the shape claudecodeui imports ----

const registered = new Set<GatewayHandle>();

/** `WebSocket.OPEN`, as claudecodeui's broadcasts compare `readyState` with it. */
export const WS_OPEN_STATE = WebSocket.OPEN;

/** Every open `/ws` socket of every gateway in this process (a live view). */
export const connectedClients: ReadonlySet<WebSocket> = {
  get size() {
    let size = 0;
    for (const handle of registered) size += handle.connectedClients.size;
    return size;
  },
  has: (ws: WebSocket) => [...registered].some((handle) => handle.connectedClients.has(ws)),
  forEach(callback: (value: WebSocket, key: WebSocket, set: ReadonlySet<WebSocket>) => void, thisArg?: unknown) {
    for (const ws of this) callback.call(thisArg, ws, ws, this);
  },
  *[Symbol.iterator]() {
    for (const handle of registered) yield* handle.connectedClients;
  },
  *values() {
    yield* this;
  },
  *keys() {
    yield* this;
  },
  *entries() {
    for (const ws of this) yield [ws, ws] as [WebSocket, WebSocket];
  },
} as ReadonlySet<WebSocket>;

/** Running runs across every gateway in this process. */
export const chatRunRegistry: ChatRunRegistry = {
  listRunningRuns: <TProvider extends string>() => [...registered].flatMap((handle) => handle.chatRunRegistry.listRunningRuns<TProvider>()),
  isProcessing: (sessionId) => [...registered].some((handle) => handle.chatRunRegistry.isProcessing(sessionId)),
};

/** Sends a gateway frame (`session_upserted`, `loading_progress`) to every `/ws` socket of every gateway. */
export function broadcast(frame: Record<string, unknown>): void {
  for (const handle of registered) handle.broadcast(frame);
}
