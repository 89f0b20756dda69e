/**
 * The real gateway a scenario drives: node:http on 127.0.0.1:0, `createWebSocketServer` with a
 * SQLite file in the scenario's work directory, every XState delay on a `SimulatedClock`, and
 * the scripted runtime, PTYs and upstreams standing in for the outside world.
 *
 * A restart keeps the http server (same port) and the database. `graceful` calls `close()`;
 * `crash` cuts the old gateway off as a dying process would (its upgrade listener removed, its
 * sockets destroyed, its runs silenced) and only closes it once the scenario is over.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { SimulatedClock, type InspectionEvent } from 'xstate';

import { createWebSocketServer, type GatewayHandle } from '../../gateway/createWebSocketServer.js';
import { createDemoRuntime } from '../../gateway/app/demoAgent.js';
import { silentLogger } from '../../gateway/logger.js';
import type { GatewayDeps, GatewayUser, ProviderRuntime } from '../../gateway/types.js';
import { openDatabase, type GatewayDatabase } from '../../persistence/database.js';
import { createSqliteSessionStore, type SqliteSessionStore } from '../../persistence/sessionStore.js';
import type { GatewaySetup, Scenario, UserSpec } from './format.js';
import { createScriptedPtyHost, type ScriptedPtyHost } from './scriptedPty.js';
import { createScriptedRuntime, type ScriptedRuntime } from './scriptedRuntime.js';
import { closedPort, startScriptedUpstream, type ScriptedUpstream } from './scriptedUpstream.js';
import { substitute } from './substitute.js';
import type { Waiter } from './waiter.js';

export const DEFAULT_TOKEN = 'test-token';
const DEFAULT_USERS: Record<string, UserSpec> = { [DEFAULT_TOKEN]: { id: 'u1', username: 'tester' } };
/** How long the end of a scenario may take to close everything. */
const SHUTDOWN_BOUND_MS = 15_000;
/** How long a closing gateway gets in real time before its simulated clock is moved on. */
const CLOSE_GRACE_MS = 2000;

export interface GatewayUnderTest {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly dbPath: string;
  readonly handle: GatewayHandle;
  readonly clock: SimulatedClock;
  /** The scripted runtime (null when the scenario runs the demo agent). */
  readonly scripted: ScriptedRuntime | null;
  readonly runtime: ProviderRuntime;
  readonly ptys: ScriptedPtyHost;
  readonly upstreams: Map<string, ScriptedUpstream>;
  readonly store: SqliteSessionStore;
  /** `pty.output` / `pty.exited` reports the shell sessions have taken in (seen by inspection). */
  readonly ptyReports: { output: number; exited: number };
  /** True once the gateway has seen the close of the connection from this client port (or never had it). */
  serverClosed(clientPort: number): boolean;
  /** Moves the simulated clock to `now + ms`, one due timer at a time, letting promises settle between. */
  advance(ms: number): Promise<void>;
  restart(mode: 'graceful' | 'crash'): Promise<void>;
  close(): Promise<void>;
}

export interface GatewayOptions {
  scenario: Scenario;
  dir: string;
  waiter: Waiter;
  /** Extra observer of every actor event (the recorder's replay check, the inspector spec). */
  inspect?: (event: InspectionEvent) => void;
  /** Wraps whatever runtime the scenario uses (recording). */
  wrapRuntime?: (runtime: ProviderRuntime) => ProviderRuntime;
}

/** Lets every promise that is ready run (one trip round the event loop). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function userFor(spec: UserSpec): GatewayUser {
  const user: GatewayUser = { id: spec.id ?? 'u1', username: spec.username ?? 'tester' };
  if (typeof spec.expiresInMs === 'number') user.expiresAt = Date.now() + spec.expiresInMs;
  return user;
}

/** The earliest timer of a SimulatedClock that is due by `until`, or null. */
function nextDue(clock: SimulatedClock, until: number): number | null {
  const timeouts = (clock as unknown as { timeouts: Map<number, { start: number; timeout: number }> }).timeouts;
  let earliest: number | null = null;
  for (const { start, timeout } of timeouts.values()) {
    const due = start + timeout;
    if (due <= until && (earliest === null || due < earliest)) earliest = due;
  }
  return earliest;
}

export async function startGateway(options: GatewayOptions): Promise<GatewayUnderTest> {
  const { scenario, dir, waiter } = options;
  const setup: GatewaySetup = scenario.gateway ?? {};
  const dbPath = `${dir}/gateway.sqlite`;
  const users = setup.users ?? DEFAULT_USERS;
  const firstUser = Object.values(users)[0] ?? DEFAULT_USERS[DEFAULT_TOKEN];
  const runtimeSetup = setup.runtime ?? { kind: 'scripted' as const };
  const ptys = createScriptedPtyHost(waiter);
  const ptyReports = { output: 0, exited: 0 };

  const upstreams = new Map<string, ScriptedUpstream>();
  for (const [name, spec] of Object.entries(scenario.upstreams ?? {})) upstreams.set(name, await startScriptedUpstream(name, spec, waiter));
  const pluginPorts = new Map<string, number | null>();
  for (const [plugin, target] of Object.entries(setup.plugins ?? {})) {
    if (target === null) pluginPorts.set(plugin, null);
    else if (target === 'closed-port') pluginPorts.set(plugin, await closedPort());
    else {
      const upstream = upstreams.get(target);
      if (!upstream) throw new Error(`plugin "${plugin}" names upstream "${target}", which the scenario does not declare`);
      pluginPorts.set(plugin, upstream.port);
    }
  }

  let clock = new SimulatedClock();
  const scripted =
    runtimeSetup.kind === 'scripted'
      ? createScriptedRuntime({
          providers: runtimeSetup.providers ?? ['scripted'],
          scripts: runtimeSetup.runs ?? [],
          defaultAbort: runtimeSetup.onAbort ?? 'honour',
          clock: () => clock,
          waiter,
        })
      : null;
  const makeRuntime = (): ProviderRuntime => {
    const base: ProviderRuntime =
      scripted ??
      createDemoRuntime({
        deltaIntervalMs: runtimeSetup.kind === 'demo' ? runtimeSetup.deltaIntervalMs ?? 0 : 0,
        permissionTimeoutMs: runtimeSetup.kind === 'demo' ? runtimeSetup.permissionTimeoutMs : undefined,
        timers: { setTimeout: (callback, ms) => clock.setTimeout(callback, ms), clearTimeout: (id) => clock.clearTimeout(id as number) },
      });
    return options.wrapRuntime ? options.wrapRuntime(base) : base;
  };
  let runtime = makeRuntime();

  const server: Server = createServer((_request, response) => response.writeHead(404).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const inspect = (event: InspectionEvent) => {
    if (event.type === '@xstate.event') {
      if (event.event.type === 'pty.output') ptyReports.output += 1;
      else if (event.event.type === 'pty.exited') ptyReports.exited += 1;
      else return options.inspect?.(event);
      waiter.wake();
    }
    options.inspect?.(event);
  };

  const openOnServer = new Set<number>();
  const build = (): GatewayHandle => {
    const deps: GatewayDeps = {
      verifyClient: {
        isPlatform: setup.platform === true,
        authenticateWebSocket: (token) => {
          if (setup.platform) return userFor(firstUser);
          const spec = token === null ? undefined : users[token];
          return spec ? userFor(spec) : null;
        },
      },
      chat: { runtime },
      databasePath: dbPath,
      logger: silentLogger,
      clock,
      inspect,
      limits: setup.limits,
      allowedOrigins: setup.allowedOrigins,
      shell: {
        spawnPty: ptys.spawnPty,
        allowedRoots: setup.shell?.allowedRoots?.map((root) => substitute(root, { dir })),
        envDenyList: setup.shell?.envDenyList,
      },
      getPluginPort: setup.plugins ? (name) => pluginPorts.get(name) ?? null : undefined,
    };
    const built = createWebSocketServer(server, deps);
    // The gateway's side of each connection, by the client's port: a step that closes a socket
    // waits until the gateway has handled that close too.
    built.wss.on('connection', (ws, request) => {
      const clientPort = request.socket.remotePort;
      if (clientPort === undefined) return;
      openOnServer.add(clientPort);
      ws.once('close', () => {
        openOnServer.delete(clientPort);
        waiter.wake();
      });
    });
    return built;
  };

  let handle = build();
  const storeDatabase: GatewayDatabase = openDatabase(dbPath);
  const store = createSqliteSessionStore(storeDatabase);
  const crashed: Array<{ handle: GatewayHandle; clock: SimulatedClock }> = [];

  const advanceClock = async (target: SimulatedClock, ms: number) => {
    const until = target.now() + ms;
    for (let due = nextDue(target, until); due !== null; due = nextDue(target, until)) {
      target.set(Math.max(due, target.now()));
      await settle();
    }
    target.set(until);
    await settle();
  };

  /**
   * Closes a gateway. Its close handshakes run in real time; only when they have not finished
   * after CLOSE_GRACE_MS is its simulated clock moved on, so a timer that would end the wait
   * (a tunnel's close timeout) fires instead of hanging the scenario.
   */
  const closeGateway = async (target: GatewayHandle, targetClock: SimulatedClock) => {
    let finished = false;
    const closing = target.close().finally(() => {
      finished = true;
      waiter.wake();
    });
    await waiter.until(() => finished, 'the gateway to close', CLOSE_GRACE_MS).catch(() => {});
    const deadline = Date.now() + SHUTDOWN_BOUND_MS;
    while (!finished && Date.now() < deadline) {
      await advanceClock(targetClock, 60_000);
      await waiter.until(() => finished, 'the gateway to close', 50).catch(() => {});
    }
    await closing;
  };

  const gateway: GatewayUnderTest = {
    url: `ws://127.0.0.1:${port}`,
    port,
    dir,
    dbPath,
    get handle() {
      return handle;
    },
    get clock() {
      return clock;
    },
    scripted,
    get runtime() {
      return runtime;
    },
    ptys,
    upstreams,
    store,
    ptyReports,
    serverClosed: (clientPort) => !openOnServer.has(clientPort),
    advance: (ms) => advanceClock(clock, ms),
    async restart(mode) {
      if (mode === 'graceful') {
        await closeGateway(handle, clock);
      } else {
        // Only the gateway listens for upgrades on this server: removing them is the process dying.
        server.removeAllListeners('upgrade');
        for (const ws of handle.wss.clients) ws.terminate();
        // The OS would close the dead process's connections to the plugins too.
        for (const upstream of upstreams.values()) for (const connection of upstream.connections) connection.ws.terminate();
        crashed.push({ handle, clock });
      }
      scripted?.killAll();
      clock = new SimulatedClock();
      runtime = makeRuntime();
      handle = build();
    },
    async close() {
      await closeGateway(handle, clock);
      for (const dead of crashed) await closeGateway(dead.handle, dead.clock);
      storeDatabase.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const upstream of upstreams.values()) await upstream.close();
    },
  };
  return gateway;
}
