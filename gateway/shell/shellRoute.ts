/**
 * The `/shell` route: builds the shell session machine's real PTY actor (node-pty, headless
 * xterm; provided in gateway/wiring.ts) and connects sockets to shell actors. PROTOCOL.md §3;
 * user-facing notes in docs/SHELL.md.
 */
import type { WebSocket } from 'ws';

import { CLOSE, SHELL_ERRORS } from '../../machines/protocolCodes.js';
import { errorLine } from '../../machines/shellSession.machine.js';
import type { ActorHost } from '../actorHost.js';
import type { GatewayLimits } from '../config.js';
import type { Logger } from '../logger.js';
import { withinDeadline } from '../deadline.js';
import type { ConnectionContext, RouteHandler } from '../route.js';
import { createSendBudget, type SendBudget } from '../sendBudget.js';
import type { ShellDeps } from '../types.js';
import type { ShellEffects } from '../wiring.js';
import type { ClusterBackend } from '../../persistence/cluster/types.js';
import type { SessionStore } from '../../persistence/types.js';
import { createPtyActor } from './ptyActor.js';
import type { PtyInput } from './ptyInput.js';
import { createPtyProcessTracker, defaultSpawnPty, type SpawnPty } from './ptyProcesses.js';
import { createPtyReaper } from './ptyReaper.js';
import { createScreenMirrorHost } from './screenMirrorHost.js';
import { createShellConnection, type ShellConnection } from './shellConnection.js';
import { buildPtyEnvironment, createEnvDenyMatcher } from './shellEnvironment.js';
import { DEFAULT_COLS, DEFAULT_ROWS, errorFrame, otherNodeFrame, outputFrame, type ShellInitRequest } from './shellFrames.js';
import { shellActorId, shellSessionKey } from './shellKey.js';
import { isLoginCommand, planLaunch, resolveResumeId, SAFE_SESSION_ID } from './shellLaunch.js';
import { createShellRegistry, type ShellActorSummary } from './shellRegistry.js';
import { resolveShellUser, shellUserEnvironment, type ShellUser } from './shellUser.js';
import { createWorkspacePolicy, workspaceErrorFrame } from './shellWorkspace.js';

export interface ShellRouteOptions {
  host: ActorHost;
  limits: GatewayLimits;
  logger: Logger;
  shell?: ShellDeps;
  /** Where resume ids come from when `shell.resolveProviderSessionId` is absent. */
  sessions?: SessionStore;
  /** node-pty's `spawn` (tests may wrap it). */
  spawnPty?: SpawnPty;
  /** The environment PTYs inherit before the deny-list applies. Default `process.env`. */
  environment?: NodeJS.ProcessEnv;
  /** `shell.user` already resolved (null: none); absent, it is resolved here (and may throw). */
  user?: ShellUser | null;
  /** The gateway's bound on bytes queued to all its sockets; absent, the route has its own. */
  sendBudget?: SendBudget;
  /**
   * [cluster] This node's id and the cluster's record of which node holds which PTY key. PTYs stay
   * node-local: a key held by another node is refused here (`SHELL_ON_OTHER_NODE`) rather than
   * started twice. Absent: one gateway, nothing is asked.
   */
  cluster?: Pick<ClusterBackend, 'nodeId' | 'shells'>;
}


export interface ShellRoute extends RouteHandler {
  /** The shell machine's effects (its PTY actor), for the wiring module. */
  readonly effects: ShellEffects;
  /** A read-only summary of every live shell session. */
  listActors(): ShellActorSummary[];
  /** Input bytes accepted for live PTYs that their programs have not read yet (all PTYs together). */
  pendingInputBytes(): number;
}

/** How long close() waits beyond the kill grace for PTYs to report their exit. */
const SHUTDOWN_EXIT_MARGIN_MS = 1000;

/**
 * [cluster] How long an `init` waits to learn which node holds its key. Past it (the backend is
 * unreachable or slow) the terminal starts here, as it would without a cluster: a terminal that
 * does not open is worse than one that may exist twice while the backend is down. Also the bound
 * close() waits for the last claims and drops to reach the backend.
 */
export const SHELL_HOLDER_LOOKUP_TIMEOUT_MS = 2000;

export function createShellRoute(options: ShellRouteOptions): ShellRoute {
  const { host, limits, logger } = options;
  // First: a shell user the gateway cannot switch to fails construction before anything starts.
  const user = options.user !== undefined ? options.user : options.shell?.user !== undefined ? resolveShellUser(options.shell.user) : null;
  const tracker = createPtyProcessTracker();
  const isDenied = createEnvDenyMatcher(options.shell?.envDenyList ?? []);
  const workspace = createWorkspacePolicy(options.shell?.allowedRoots);
  const connections = new Map<string, ShellConnection>();
  let nextViewer = 0;
  let closing = false;
  const mirrors = createScreenMirrorHost({ logger, placement: options.shell?.screenMirror });
  const sendBudget = options.sendBudget ?? createSendBudget(limits.maxTotalSocketBufferBytes);
  const inputs = new Set<PtyInput>();
  const spawnPty = options.spawnPty ?? defaultSpawnPty;
  /** Tells the registry when each PTY process starts and exits: a killed PTY counts against the limits until it has exited. */
  const spawnWatched: SpawnPty = (file, args, spawnOptions) => {
    const handle = spawnPty(file, args, spawnOptions);
    const { pid } = handle;
    registry.processStarted(pid);
    handle.onExit(() => registry.processExited(pid));
    return handle;
  };
  const reaper = createPtyReaper({ logger });
  // [cluster] Entry id → key of every PTY this node has claimed and not dropped yet.
  const claimed = new Map<string, string>();
  const registryCalls = new Set<Promise<void>>();
  /** Claims and drops never hold up a terminal; a failure only leaves the backend's record stale. */
  const tellCluster = (what: 'claim' | 'drop', key: string) => {
    const shells = options.cluster?.shells;
    if (!shells) return;
    const call = Promise.resolve()
      .then(() => shells[what](key))
      .catch((error: unknown) => {
        logger.warn(`shell: could not ${what} the terminal in the cluster's registry`, { error: error instanceof Error ? error.message : String(error) });
      })
      .finally(() => registryCalls.delete(call));
    registryCalls.add(call);
  };
  /** The other node holding the key's PTY, if one does; null when none does or the backend does not answer in time. */
  const otherHolder = async (key: string): Promise<string | null> => {
    const cluster = options.cluster;
    if (!cluster) return null;
    try {
      const holder = await withinDeadline(cluster.shells.holder(key), SHELL_HOLDER_LOOKUP_TIMEOUT_MS);
      // Our own id with no PTY here: a claim this node left behind (it restarted); start afresh.
      return holder !== null && holder !== cluster.nodeId ? holder : null;
    } catch (error) {
      logger.warn('shell: could not ask the cluster which node holds the terminal; starting it on this node', {
        error: error instanceof Error ? error.message : String(error),
      });
      return null;
    }
  };
  const environment = (): Record<string, string> => {
    const env = buildPtyEnvironment(options.environment ?? process.env, isDenied);
    return user ? { ...env, ...shellUserEnvironment(user) } : env;
  };

  // The shell machine's one effect; the wiring module provides it (gateway/wiring.ts).
  const effects: ShellEffects = {
    pty: createPtyActor({
      spawnPty: spawnWatched,
      environment,
      tracker,
      reaper,
      user,
      logger,
      mirrors,
      scrollbackLines: limits.shellScrollbackLines,
      restoreMaxCells: limits.shellRestoreMaxCells,
      highWaterMark: limits.shellHighWaterMarkBytes,
      lowWaterMark: limits.shellLowWaterMarkBytes,
      authUrlWindowChars: limits.shellAuthUrlWindowChars,
      killGraceMs: limits.shellKillGraceMs,
      maxPendingInputBytes: limits.shellMaxPendingInputBytes,
      inputs,
    }),
  };

  const registry = createShellRegistry({
    host,
    limits,
    logger,
    deliver(viewerIds, text) {
      for (const id of viewerIds) connections.get(id)?.deliver(text);
    },
    released(entryId, viewerIds) {
      const key = claimed.get(entryId);
      if (key !== undefined) {
        claimed.delete(entryId);
        tellCluster('drop', key);
      }
      for (const id of viewerIds) {
        const connection = connections.get(id);
        if (connection?.attachedTo === entryId) connection.attachedTo = null;
      }
    },
  });

  const detach = (connection: ShellConnection) => {
    if (connection.attachedTo === null) return;
    registry.detach(connection.attachedTo, connection.viewerId);
    connection.attachedTo = null;
  };

  const attach = (connection: ShellConnection, entryId: string, size?: { cols?: number; rows?: number }) => {
    const entry = registry.get(entryId);
    if (!entry) return;
    connection.attachedTo = entryId;
    connection.resetFlow();
    registry.attach(entry, connection.viewerId, size);
  };

  async function init(connection: ShellConnection, request: ShellInitRequest): Promise<void> {
    const place = await workspace.check(request.projectPath);
    if (connection.isClosed || closing) return;
    // The same codes as POST /api/providers/sessions; the message keeps baseline's prefix.
    if (!place.ok) return connection.deliver(workspaceErrorFrame(place));
    const resolvedPath = place.path;
    if (request.sessionId !== null && request.sessionId.length > limits.maxSessionIdLength) {
      return connection.deliver(errorFrame(SHELL_ERRORS.SESSION_ID_TOO_LONG));
    }
    if (request.sessionId !== null && !SAFE_SESSION_ID.test(request.sessionId)) {
      return connection.deliver(errorFrame(SHELL_ERRORS.INVALID_SESSION_ID));
    }
    const key = shellSessionKey({
      ownerId: connection.ownerId,
      resolvedPath,
      sessionId: request.sessionId,
      plainCommand: request.isPlainShell ? request.initialCommand : null,
      provider: request.isPlainShell ? null : request.provider,
    });
    const id = shellActorId(key);
    const restart = request.forceRestart || isLoginCommand(request.initialCommand);
    detach(connection);
    if (!restart && registry.get(id)) return attach(connection, id, request);
    // [cluster] Not held here: if another node holds it, the client must go there (even to
    // restart it: a second PTY for one key would split its viewers between two nodes).
    if (options.cluster && !registry.get(id)) {
      const holder = await otherHolder(key);
      if (connection.isClosed || closing) return;
      // An init on this node may have started the key meanwhile: then it is ours after all.
      if (holder !== null && !registry.get(id)) return connection.deliver(otherNodeFrame(holder));
    }

    const resumeId = await resolveResumeId(request, { shell: options.shell, sessions: options.sessions, logger });
    if (connection.isClosed || closing) return;

    // From here on synchronous: no other init can slip in between the lookup and the spawn.
    const existing = registry.get(id);
    let inherited: string[] = [];
    if (existing) {
      if (!restart) return attach(connection, id, request);
      // The others watching the old PTY follow the key to the fresh one.
      inherited = [...existing.viewers];
      registry.kill(existing, 'restart');
    }
    if (!registry.makeRoom(connection.ownerId)) {
      // Killed PTYs count until their process has exited (a restart's own old PTY is one; SIGKILL
      // comes after shellKillGraceMs). Wait for them that long rather than refuse at once.
      const deadline = Date.now() + limits.shellKillGraceMs + SHUTDOWN_EXIT_MARGIN_MS;
      let room = false;
      while (!room && registry.dyingCount() > 0 && Date.now() < deadline) {
        await registry.nextDyingExit(deadline - Date.now());
        if (connection.isClosed || closing) return;
        // Another init may have started this key meanwhile: join it.
        if (registry.get(id)) {
          attach(connection, id, request);
          for (const viewerId of inherited) followKey(viewerId, connection, id);
          return;
        }
        room = registry.makeRoom(connection.ownerId);
      }
      if (!room) {
        logger.info('shell: PTY limit reached', { ownerId: connection.ownerId });
        return connection.deliver(errorFrame(SHELL_ERRORS.TOO_MANY_TERMINALS));
      }
    }
    const plan = planLaunch(request, resumeId);
    try {
      registry.spawn(id, {
        key,
        ownerId: connection.ownerId,
        detachTimeoutMs: limits.shellDetachTimeoutMs,
        launch: {
          command: plan.command,
          cwd: resolvedPath,
          cols: request.cols ?? DEFAULT_COLS,
          rows: request.rows ?? DEFAULT_ROWS,
          welcome: plan.welcome,
        },
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      logger.error('shell: starting the session failed', { id, error: message });
      return connection.deliver(outputFrame(errorLine(message)));
    }
    // A spawn that failed at once has already released its entry: nothing to claim then.
    if (registry.get(id)) {
      claimed.set(id, key);
      tellCluster('claim', key);
    }
    logger.debug('shell: PTY started', { id, cwd: resolvedPath });
    attach(connection, id);
    for (const viewerId of inherited) followKey(viewerId, connection, id);
  }

  /** A viewer of a restarted PTY follows its key to the fresh one (unless it went elsewhere meanwhile). */
  function followKey(viewerId: string, restarter: ShellConnection, id: string): void {
    const other = connections.get(viewerId);
    if (other && other !== restarter && !other.isClosed && other.attachedTo === null) attach(other, id);
  }

  return {
    effects,
    listActors: () => registry.list(),
    pendingInputBytes() {
      let total = 0;
      for (const input of inputs) total += input.pendingBytes;
      return total;
    },

    handle(ws: WebSocket, context: ConnectionContext) {
      if (closing) {
        ws.close(CLOSE.SERVER_SHUTTING_DOWN.code, CLOSE.SERVER_SHUTTING_DOWN.reason);
        return;
      }
      const viewerId = `viewer-${++nextViewer}`;
      const connection = createShellConnection(ws, {
        viewerId,
        ownerId: context.userId === null ? 'anonymous' : String(context.userId),
        highWaterMark: limits.shellHighWaterMarkBytes,
        lowWaterMark: limits.shellLowWaterMarkBytes,
        maxBufferedBytes: limits.maxSocketBufferBytes,
        sendBudget,
        maxPendingFrames: limits.shellMaxPendingFrames,
        // The upgrade request's socket is the one `ws` writes to.
        transport: context.request?.socket ?? null,
        logger,
        init,
        notify(from, event) {
          if (from.attachedTo !== null) registry.send(from.attachedTo, event);
        },
        closed(from) {
          detach(from);
          connections.delete(from.viewerId);
        },
      });
      connections.set(viewerId, connection);
    },

    async close() {
      closing = true;
      reaper.holdSessions();
      for (const connection of connections.values()) connection.close(CLOSE.SERVER_SHUTTING_DOWN);
      for (const entry of registry.entries()) registry.shutdown(entry);
      await tracker.allExited(limits.shellKillGraceMs + SHUTDOWN_EXIT_MARGIN_MS);
      // Kills whatever the killed PTYs left in their sessions, then exits.
      reaper.close();
      await mirrors.close();
      // [cluster] The drops of the PTYs just ended, bounded: the backend may be unreachable, and
      // an unrenewed claim expires with this node anyway.
      if (registryCalls.size > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([Promise.allSettled([...registryCalls]), new Promise((resolve) => (timer = setTimeout(resolve, SHELL_HOLDER_LOOKUP_TIMEOUT_MS)))]);
        clearTimeout(timer);
      }
    },
  };
}
