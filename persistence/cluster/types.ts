/**
 * The contract between a gateway node and a shared cluster backend (Redis: `persistence/redis/`).
 * Types only: the gateway's chat path and the standalone server are written against these, and
 * nothing outside `persistence/` names the Redis client.
 *
 * The model (docs/CLUSTER.md has the whole design and its windows):
 * - Each session's events are one ordered log in the backend. A run's node is the session's only
 *   writer while it holds the session's **run lease**; every append is fenced by the lease's token,
 *   so a node that lost its lease cannot write (the backend refuses the batch).
 * - A session has at most one **unfinished run** cluster-wide (its run record). The record outlives
 *   the lease: a run whose node died keeps its record after the lease expired, and a sweeping node
 *   **takes it over** (a fresh lease for the same run) to sequence its synthetic `complete`.
 * - Writing a run's `complete` deletes its record and lease in the same atomic step, so "the run
 *   ended" and "the session is free" are one fact in the backend.
 * - Every node mirrors the logs of the sessions it has live actors for (one reader per node); a
 *   node's reads (`read`, `latestSeq`, `oldestSeq`) answer from that mirror, synchronously.
 */
import type { CreateSessionInput } from '../sessionStoreApi.js';
import type {
  ChatEventLog,
  EventLogHealth,
  ListedSession,
  LoggedEvent,
  SessionDescription,
  SessionPage,
  SessionPageRequest,
  SessionRecord,
  SessionStore,
  PersistenceLogger,
} from '../types.js';

/**
 * A pending approval as a run record stores it (the chat machine's `PendingPermission`, which
 * persistence does not import: the shapes match structurally).
 */
export interface StoredApproval {
  requestId: string;
  runId: string;
  toolName: unknown;
  input: unknown;
}

/** An approval decision carried between nodes (the chat machine's `PermissionDecision`, structurally). */
export interface ForwardedDecision {
  allow: boolean;
  updatedInput?: unknown;
  message?: string;
  rememberEntry?: unknown;
  optionId?: string;
}

/** The backend's reachability, as `/healthz` names it. */
export interface BackendHealth {
  /** Which backend: `'redis'`. */
  backend: string;
  /** False while the backend cannot be reached (commands fail or time out). */
  connected: boolean;
  /** The last connection or command failure, if any (no credentials in it). */
  lastError: string | null;
}

/** Why a batch of a session's events was not written, as the gateway acts on it. */
export type AppendRefusal =
  /** The session's lease is not this node's (expired and taken over, or never held): the run is lost here. */
  | 'fenced'
  /** The unwritten backlog of this node passed its bound while the backend was unreachable. */
  | 'backlog';

export interface ClusterEventLogHooks {
  /**
   * Events another node wrote, in seq order, each once, after the mirror holds them (so a
   * `read` in this callback sees them). Only for sessions this node `watch`es.
   */
  onRemoteEvents(sessionId: string, events: readonly LoggedEvent[]): void;
  /** The backend refused a session's unwritten events: they are dropped; the run must stop here. */
  onAppendRefused(sessionId: string, reason: AppendRefusal): void;
  /** The lease token an append of this session is fenced with (null: this node holds no lease: refused). */
  fenceOf(sessionId: string): string | null;
}

/**
 * The event log on the shared backend. The `ChatEventLog` methods keep their meaning, with these
 * differences: `append` is fenced by `fenceOf(sessionId)`; `whenWritten` calls back only once the
 * backend acknowledged every event appended so far (while it is unreachable the callbacks wait,
 * bounded by the backlog); `read`/`latestSeq`/`oldestSeq` answer from this node's mirror;
 * `runStarted`/`runCompleted` are no-ops (the run record is the lease's, see `RunLeases`), and
 * `unfinishedRuns()` is `[]` (the sweep replaces start-up recovery).
 */
export interface ClusterEventLog extends ChatEventLog {
  /** Set once, before the first append (the gateway's chat path). */
  setHooks(hooks: ClusterEventLogHooks): void;
  /**
   * Loads the session into this node's mirror: its latest and oldest seq, and the retained events
   * after `afterSeq` (all of them when it is 0, bounded by the session's bounds), then starts
   * reading its new events (`watch`). Rejects when the backend cannot be reached.
   */
  prepare(sessionId: string, afterSeq: number): Promise<void>;
  /**
   * Reads the backend's events after the mirror's latest seq into the mirror, delivering them
   * through `onRemoteEvents` before it resolves. Used right after a lease is acquired: the
   * previous writer's last events are in the backend by then.
   */
  sync(sessionId: string): Promise<void>;
  /** Stops reading the session's new events and lets its mirror go (no live actor here any more). */
  unwatch(sessionId: string): void;
  /** Reads the backend directly (REST history): events after `afterSeq`, ascending, at most `limit`. */
  readHistory(sessionId: string, afterSeq: number, limit: number): Promise<LoggedEvent[]>;
  /** The backend's latest and oldest retained seq of a session (REST). */
  seqBounds(sessionId: string): Promise<{ latestSeq: number; oldestSeq: number }>;
  /** Deletes a session's events and seq mark for good (REST DELETE). */
  forgetSessionAsync(sessionId: string): Promise<void>;
  health(): Required<EventLogHealth>;
}

/** A session's unfinished run, as the backend records it (created by `acquire`). */
export interface RunRecordShape {
  sessionId: string;
  runId: string;
  /** The node that runs it (after a takeover: the node that took it over). */
  nodeId: string;
  provider: string;
  /** Epoch ms. */
  startedAt: number;
  /** The seq its first event gets: the session's latest seq at acquisition + 1. */
  firstSeq: number;
  /** The approvals it waits for, as its node last wrote them. */
  pendingPermissions: StoredApproval[];
  /** Whether its lease is live (false: its node is gone or stalled; a sweep will take it over). */
  leaseAlive: boolean;
}

export type AcquireResult =
  /** The lease is this node's; `latestSeq` is the session's latest seq in the backend. */
  | { outcome: 'acquired'; token: string; latestSeq: number }
  /** The session has an unfinished run (this one's or another's). */
  | { outcome: 'held'; holder: RunRecordShape };

export interface RunLeaseHooks {
  /**
   * A lease this node held is gone: renewals failed for the whole lease time, or the backend said
   * the token is not ours any more. The node must stop the run without writing its end.
   */
  onLeaseLost(sessionId: string, runId: string): void;
}

/**
 * Run leases and run records. A lease lasts `leaseMs` (a named limit, default
 * `DEFAULT_RUN_LEASE_MS`) and is renewed by this node every third of it while held.
 */
export interface RunLeases {
  readonly leaseMs: number;
  setHooks(hooks: RunLeaseHooks): void;
  /**
   * Starts a run of a session on this node: creates its run record and lease atomically, unless
   * the session has an unfinished run. Rejects when the backend cannot be reached.
   */
  acquire(sessionId: string, run: { runId: string; provider: string; startedAt: number }): Promise<AcquireResult>;
  /**
   * Takes over a run whose lease expired (its record names `runId` and no lease is live): a fresh
   * lease for this node. Null when it is not takeable any more (another node took it, or it ended).
   */
  takeOver(sessionId: string, runId: string): Promise<{ token: string; latestSeq: number } | null>;
  /** The token of the lease this node holds for the session, if any (the event log's fence). */
  tokenOf(sessionId: string): string | null;
  /**
   * Gives a lease back without ending a run through the log (a send the session refused after the
   * lease was acquired): deletes the record and lease if the token is still ours.
   */
  release(sessionId: string): Promise<void>;
  /** Forgets a lease locally once the log wrote the run's `complete` (which deleted it in the backend). */
  ended(sessionId: string): void;
  /** Writes the run's open approvals into its record (fenced by the token). */
  setPending(sessionId: string, pending: readonly StoredApproval[]): Promise<void>;
  /** The session's unfinished run, if any. */
  get(sessionId: string): Promise<RunRecordShape | null>;
  /** Every unfinished run of the cluster (bounded by the number of sessions with a run). */
  list(): Promise<RunRecordShape[]>;
  close(): Promise<void>;
}

/** A message from one node to another (`NodeBus`). */
export type NodeMessage =
  | { type: 'abort'; sessionId: string; runId: string }
  | { type: 'permission-response'; sessionId: string; runId: string; requestId: string; decision: ForwardedDecision };

/** Messages to a named node (pub/sub: a node that is down simply does not get them). */
export interface NodeBus {
  send(nodeId: string, message: NodeMessage): Promise<void>;
  onMessage(handler: (message: NodeMessage) => void): void;
}

/** Which node holds a `/shell` PTY key (node-local resources, named across the cluster). */
export interface ShellRegistry {
  /** Records that this node holds the key's PTY (renewed while it lives; expires with the node). */
  claim(key: string): Promise<void>;
  /** The key's PTY is gone from this node. */
  drop(key: string): Promise<void>;
  /** The node holding the key's PTY, if any node does. */
  holder(key: string): Promise<string | null>;
}

/** The session store on the backend: the same methods as the SQLite store, asynchronous. */
export interface ClusterSessionStore extends SessionStore {
  getSession(sessionId: string): Promise<SessionRecord | null>;
  assignProviderSessionId(sessionId: string, providerSessionId: string): Promise<void>;
  describeSession(sessionId: string): Promise<SessionDescription | null>;
  /** Throws if the id is taken; `SessionLimitError` when `maxSessions` are stored. */
  createSession(input: CreateSessionInput, options?: { maxSessions?: number }): Promise<ListedSession>;
  /** Same paging contract as the SQLite store (`SessionCursorError` for a foreign cursor). */
  listSessions(request?: SessionPageRequest): Promise<SessionPage>;
  deleteSession(sessionId: string): Promise<boolean>;
  /** Marks activity (a run started or completed): the session moves to the top of the listing. */
  touch(sessionId: string, at: number): Promise<void>;
}

/** Everything a gateway node gets from the cluster backend. */
export interface ClusterBackend {
  readonly nodeId: string;
  readonly eventLog: ClusterEventLog;
  readonly sessions: ClusterSessionStore;
  readonly runs: RunLeases;
  readonly bus: NodeBus;
  readonly shells: ShellRegistry;
  health(): BackendHealth;
  /** Nodes seen alive within the lease time (each node announces itself every third of it). */
  nodes(): Promise<string[]>;
  close(): Promise<void>;
}

/** Defaults of the cluster's limits (docs/CLUSTER.md). */
export const DEFAULT_RUN_LEASE_MS = 10_000;

/** What `openRedisCluster` (persistence/redis/redisCluster.ts) takes. */
export interface RedisClusterOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  url: string;
  /** This node's name in the cluster (`--node-id`, default host:port). Unique per node. */
  nodeId: string;
  /** Run lease time (default `DEFAULT_RUN_LEASE_MS`): a dead node's run is taken over within it. */
  leaseMs?: number;
  /** Per-session bounds of the shared log, as for SQLite (`maxEventsPerSession`, `maxBytesPerSession`). */
  maxEventsPerSession: number;
  maxBytesPerSession: number;
  /** Events of each mirrored session kept once no subscribe asked for more (`replayTailEvents`). */
  tailEvents: number;
  /** Prefix of every key and channel (default `ag:`): several clusters may share one Redis. */
  keyPrefix?: string;
  logger?: PersistenceLogger;
}
