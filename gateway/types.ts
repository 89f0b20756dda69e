import type { IncomingMessage } from 'node:http';

import type { WebSocket } from 'ws';

import type { Clock, Inspector } from './actorHost.js';
import type { GatewayLimits } from './config.js';
import type { Logger } from './logger.js';
import type { SpawnPty } from './shell/ptyProcesses.js';
import type { PermissionDecision } from '../machines/chatMessage.js';
import type { ClusterBackend } from '../persistence/cluster/types.js';
import type { SessionStore } from '../persistence/types.js';

/**
 * The user object a host's `authenticateWebSocket` returns. Only `id`/`userId` (who owns a PTY)
 * and an expiry are read; the rest is passed through to the host untouched.
 */
export interface GatewayUser {
  id?: string | number;
  userId?: string | number;
  username?: string;
  /** JWT-style expiry, epoch seconds: the socket is closed with 4401 at that time. */
  exp?: number;
  /** Expiry in epoch milliseconds (takes precedence over `exp`). */
  expiresAt?: number;
  [key: string]: unknown;
}

/** Upgrade authentication, in claudecodeui's shape. */
export interface VerifyClientDeps {
  /** Platform mode: the hosting proxy authenticated the user; `authenticateWebSocket(null)` is called. */
  isPlatform?: boolean;
  /** Returns the user for a token (or null to reject with 401). May be async. */
  authenticateWebSocket(
    token: string | null,
    request: IncomingMessage,
  ): GatewayUser | null | undefined | Promise<GatewayUser | null | undefined>;
}

/** A normalized provider message. Unknown fields pass through untouched. */
export interface NormalizedMessage {
  kind: string;
  [key: string]: unknown;
}

/** A tool-approval decision from `chat.permission-response` (defined beside the chat machines). */
export type { PermissionDecision } from '../machines/chatMessage.js';

/** The writer a runtime streams a run through. */
export interface RuntimeWriter {
  /**
   * Sends one normalized message (`kind` required). `session_created` is captured, never forwarded.
   * Messages are sequenced in the order sent, together at the end of the current microtask (a
   * chunk of deltas is one batch): a seq read synchronously after `send` does not count it yet.
   */
  send(message: unknown): void;
  /** Announces the provider-native session id. */
  setSessionId(providerSessionId: string): void;
  /** The provider-native session id as known so far (from the session store, or announced). */
  getSessionId(): string | null;
  readonly userId: string | number | null;
  readonly isWebSocketWriter: true;
}

/**
 * A host's provider runtimes, in claudecodeui's shape. Generic over the host's provider union
 * so a host typed with `'claude' | 'codex' | …` compiles under `strict`.
 */
export interface ProviderRuntime<TProvider extends string = string> {
  hasRuntime(provider: string): boolean;
  run(provider: TProvider, command: string, options: Record<string, unknown>, writer: RuntimeWriter): Promise<unknown>;
  /** Resolves true when the run was stopped. */
  abort(provider: TProvider, sessionId: string): Promise<boolean>;
  resolveToolApproval(requestId: string, decision: PermissionDecision): void;
  getPendingApprovalsForSession(sessionId: string): unknown[];
}

/** What `chat.prepareRun` is told about a run the gateway has admitted, before its runtime starts. */
export interface RunPreparation<TProvider extends string = string> {
  provider: TProvider;
  /** The app session id. */
  sessionId: string;
  /** From the session row: where the agent runs (never the client's say). */
  projectPath: string | null;
  /** The provider-native id known when the run starts (resume), else null. */
  providerSessionId: string | null;
  content: string;
  /** The `options` of the `chat.send` exactly as the client sent them: untrusted input. */
  clientOptions: Readonly<Record<string, unknown>>;
  userId: string | number | null;
}

export interface ChatDeps<TProvider extends string = string> {
  runtime: ProviderRuntime<TProvider>;
  /**
   * Which options the runtime gets, and any host work before the run (remembering the model,
   * checking attachment paths against an upload store). Called once per admitted run, before
   * `runtime.run`; `sessionId`, `projectPath` and `cwd` from the session row are set on what it
   * returns and always win. A throw fails the run like a runtime error (an `error` event, then
   * its `complete`). **Default: the runtime gets none of the client's options**: a client-supplied
   * option (a file path in `images`, a permission mode) reaches a runtime only if the host allows it.
   */
  prepareRun?(run: RunPreparation<TProvider>): Record<string, unknown> | Promise<Record<string, unknown>>;
  /**
   * [ours] Called when a run asks for approval, or ends, while no socket watches its session, so
   * the host can reach its user another way (a push, a mail; standalone: `--notify-url`). Called
   * after the frame is logged; never awaited, and a throw is logged, so it cannot delay a run.
   */
  onAttention?(event: AttentionEvent): void;
}

/** What `onAttention` is told: the frame nobody saw, and what it is about. */
export interface AttentionEvent {
  type: 'permission_request' | 'complete';
  sessionId: string;
  runId: string;
  seq: number;
  /** `permission_request`: the request to answer with `chat.permission-response`. */
  requestId?: string;
  toolName?: unknown;
  /** `complete`: how the run ended. */
  exitCode?: number;
  success?: boolean;
  aborted?: boolean;
  /** ISO 8601, the frame's own timestamp. */
  timestamp: string;
}

export interface ShellDeps {
  /** Maps an app session id to the provider-native id used for `--resume`. Defaults to the session store. */
  resolveProviderSessionId?(sessionId: string, provider: string): string | null | undefined | Promise<string | null | undefined>;
  /** Absolute directories a shell may start in (and below). Empty or absent: any existing directory. */
  allowedRoots?: string[];
  /** Environment variable names removed from every PTY's environment, besides the defaults. */
  envDenyList?: string[];
  /**
   * The OS user (name or uid) PTYs run as, with its own groups, HOME, USER and LOGNAME. Without
   * it a terminal runs as the gateway's user and can read everything the gateway can (its
   * environment through /proc, its files, the host's secrets): the env deny-list hides variables,
   * it is not a boundary. Needs Linux, util-linux's `setpriv` and a gateway running as root;
   * construction throws when the user does not exist or cannot be switched to.
   */
  user?: string | number;
  /** node-pty's `spawn`, replaced by hosts that wrap it (recording a session) and by scripted PTYs in tests. */
  spawnPty?: SpawnPty;
  /**
   * Where the PTYs' screen mirrors parse. `'worker'` (default): one worker thread, off the event
   * loop (about 2× the PTY throughput, ~18 MiB more memory). `'in-process'`: on the event loop.
   */
  screenMirror?: 'worker' | 'in-process';
}

/** Extra socket routes a host mounts on the same server, authenticated like the built-in ones. */
export type ExtraRoutes = Record<string, (ws: WebSocket, request: IncomingMessage & { user?: GatewayUser }) => void>;

export interface GatewayDeps<TProvider extends string = string> {
  verifyClient: VerifyClientDeps;
  chat: ChatDeps<TProvider>;
  shell?: ShellDeps;
  /** The local port of a running plugin's WebSocket server, or null/undefined when it is not running. */
  getPluginPort?(name: string): number | null | undefined | Promise<number | null | undefined>;
  /** The session store. Default: the SQLite store in the gateway's database. */
  sessions?: SessionStore;
  /** Where the SQLite file lives: a path, or ':memory:'. Default `./data/agent-gateway.sqlite`. */
  databasePath?: string;
  /**
   * [cluster] A shared backend (`openRedisCluster`): this gateway is one node of several. The chat
   * log, sessions and run leases live there (SQLite is not opened; `sessions` and `databasePath`
   * are ignored); `/shell` and `/plugin-ws` stay node-local. docs/CLUSTER.md.
   */
  cluster?: ClusterBackend;
  /** Browser origins allowed besides the request's own host. `'*'` allows every origin. */
  allowedOrigins?: string[];
  routes?: ExtraRoutes;
  limits?: Partial<GatewayLimits>;
  logger?: Logger;
  /** Stately inspector (or any observer) that sees every actor of the gateway. */
  inspect?: Inspector;
  /** The clock every actor's delayed transitions use (a `SimulatedClock` in tests). */
  clock?: Clock;
}
