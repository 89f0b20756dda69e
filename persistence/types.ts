/**
 * The contracts between the gateway and its stores. `persistence/` implements them on SQLite;
 * a host embedding the gateway may pass its own `SessionStore` (its sessions live in its own database).
 */

/**
 * What persistence logs through. The gateway's `Logger` satisfies it structurally, so
 * `persistence/` never imports from `gateway/` (arrows point inwards).
 */
export interface PersistenceLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** One app session as the gateway needs it: the provider always comes from here, never from a client. */
export interface SessionRecord {
  /** The app session id clients use. */
  sessionId: string;
  provider: string;
  /** The provider-native id (Claude session id, Codex thread id…) once the runtime has announced it. */
  providerSessionId: string | null;
  projectPath: string | null;
}

/** One stored session as a listing shows it. */
export interface ListedSession extends SessionRecord {
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds of the latest activity: a change of the record, or a run starting or completing. */
  updatedAt: number;
}

/** One page of stored sessions, newest activity first. */
export interface SessionPage {
  sessions: ListedSession[];
  /** Opaque cursor of the next (older) page, or null when this page is the last. */
  nextBefore: string | null;
}

export interface SessionPageRequest {
  /** Sessions per page; clamped to the store's maximum. */
  limit?: number;
  /** A `nextBefore` of an earlier page; absent or null for the first page. */
  before?: string | null;
}

/** What `session_upserted` says about a session (the frame itself adds `providerSessionId`). */
export interface SessionDescription {
  session: {
    id: string;
    summary: string | null;
    messageCount: number;
    /** ISO 8601 time of the last activity. */
    lastActivity: string | null;
  };
  project: Record<string, unknown> | null;
}

/** Sync or async, so a host can back it with whatever it has. */
export interface SessionStore {
  getSession(sessionId: string): SessionRecord | null | Promise<SessionRecord | null>;
  /** Records the provider-native id of an app session (the first id, or a later different one). */
  assignProviderSessionId(sessionId: string, providerSessionId: string): void | Promise<void>;
  /**
   * Optional: the body of `session_upserted`. Null: the session is not to be shown (archived,
   * deleted) and no upsert is sent. Without it the gateway sends a minimal description.
   */
  describeSession?(sessionId: string): SessionDescription | null | Promise<SessionDescription | null>;
}

/** One sequenced chat event, exactly as it was sent to clients (`json` is the frame text). */
export interface LoggedEvent {
  sessionId: string;
  seq: number;
  runId: string;
  kind: string;
  /** The serialized frame, sent verbatim on replay. */
  json: string;
  /** Epoch milliseconds when the gateway sequenced it. */
  at: number;
}

export interface RunRecord {
  runId: string;
  sessionId: string;
  provider: string;
  /** Epoch milliseconds. */
  startedAt: number;
}

export interface EventLogHealth {
  /** True while the last write to the database failed: live streaming goes on, durability does not. */
  degraded: boolean;
  /** The last failure's message, if any. */
  lastError: string | null;
  /** Events accepted but not yet written (bounded by the in-memory tail). */
  pendingEvents: number;
  /**
   * Events accepted but never written because the database kept failing and the unwritten
   * backlog hit its bound (oldest dropped first). Counted since the log was opened.
   */
  droppedEvents?: number;
}

/**
 * The durable, bounded chat event log. Appends are buffered and written in batches (one
 * transaction per event-loop turn, or sooner when the batch is full); reads see buffered
 * events too, so replay never misses an event that has not reached disk yet.
 */
export interface ChatEventLog {
  append(event: LoggedEvent): void;
  /** Events of a session with `seq > afterSeq`, ascending, at most `limit`. */
  read(sessionId: string, afterSeq: number, limit: number): LoggedEvent[];
  /**
   * Optional: brings the retained events after `afterSeq` within reach of `read` (a log whose
   * `read` answers from a bounded copy in memory, as a cluster node's mirror of the shared log).
   * Resolves once `read` can answer, or once they are known to be gone (pruned).
   */
  fill?(sessionId: string, afterSeq: number): Promise<void>;
  /** Highest seq ever assigned in the session (0 when none), including pruned and unflushed events. */
  latestSeq(sessionId: string): number;
  /** Lowest seq still retained (0 when the session has no retained event). */
  oldestSeq(sessionId: string): number;
  runStarted(run: RunRecord): void;
  runCompleted(runId: string, result: { exitCode: number; aborted: boolean; completedAt: number }): void;
  /** Runs recorded as started and never completed (a crash interrupted them). */
  unfinishedRuns(): RunRecord[];
  /** Writes every buffered event now. */
  flush(): void;
  /**
   * Optional: calls back once every event appended so far is written (at once when none is
   * waiting, or while the database is failing: live streaming must not stall on it). The gateway
   * holds a socket's frames until then, so a crash can only lose events no client has seen.
   */
  whenWritten?(callback: () => void): void;
  health(): EventLogHealth;
  /**
   * Optional: forgets a session's in-memory tail (its events stay in the database) when the
   * session leaves memory. Returns false, keeping it, while the session has unwritten events.
   */
  release?(sessionId: string): boolean;
  /**
   * Optional: deletes a session for good (its events, seq mark and runs in the database; its
   * in-memory tail, unwritten events and seq counter), so `latestSeq` answers 0 afterwards. Meant
   * for a deleted session: the caller stops its live actor first. While the database fails the
   * deletion waits, in order, for the next successful write.
   */
  forgetSession?(sessionId: string): void;
  /** Flushes and closes the database. */
  close(): void;
}
