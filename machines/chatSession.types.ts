/**
 * The chat session machine's types: its input and limits, the events it takes, the events it
 * emits (the gateway's instructions), and its context. The machine is chatSession.machine.ts.
 */
import type { ChatRunParentEvent, RuntimeInvocation } from './chatRun.machine.js';
import type { PendingPermission, PermissionDecision, SequencedFrame } from './chatMessage.js';
import type { ProtocolErrorFrame } from './protocolErrors.js';

export interface ChatSessionLimits {
  sessionIdleTtlMs: number;
  lockedSessionTimeoutMs: number;
  abortTimeoutMs: number;
  /** How long a shutting-down gateway lets a run answer its abort before ending it regardless. */
  shutdownAbortGraceMs: number;
  /** How long a send's `clientMessageId` is remembered: a repeat within it starts no second run. */
  clientMessageIdWindowMs: number;
}

/** `clientMessageId`s one session remembers at most (the oldest is forgotten first). */
export const MAX_RECENT_CLIENT_MESSAGE_IDS = 256;

/** A send remembered by its `clientMessageId`, and the run it started. */
export interface RecentSend {
  clientMessageId: string;
  runId: string;
  /** The run's first seq: a repeat of the send is replayed the run from there. */
  firstSeq: number;
}

export interface ChatSessionInput {
  sessionId: string;
  /** The highest seq already in the durable log (0 for a new session). */
  latestSeq: number;
  limits: ChatSessionLimits;
  /** Subscribers an earlier actor of this session handed back when it closed (its output). */
  watchers?: readonly string[];
}

/**
 * What a closed session hands back: the subscribers still watching it. Only a session in which
 * nothing was ever sequenced closes while watched; the gateway keeps its watchers without an
 * actor and passes them to the next one (`ChatSessionInput.watchers`), so a made-up session id
 * costs a live actor only for the frame that named it.
 */
export interface ChatSessionOutput {
  watchers: readonly string[];
}

/** A run as `client.send` asks for it: what the runtime needs, less the session id this machine knows. */
export interface RunRequest extends Omit<RuntimeInvocation, 'sessionId'> {
  /** Epoch ms, stamped by the gateway (machines have no wall clock). */
  startedAt: number;
  /** [ours] The client's id for this send: a repeat of it within the window is the same send. */
  clientMessageId?: string;
}

/**
 * What the gateway looked up for a send (I/O this machine cannot do): whether the session row
 * exists, and whether its provider has a runtime here. The machine decides what follows.
 */
export interface SendLookup {
  sessionFound: boolean;
  providerAvailable: boolean;
  /**
   * [cluster] The session's run lease, asked of the shared backend before the send: `acquired`
   * (this node may start the run), `held` (a run of the session is unfinished somewhere in the
   * cluster), `unavailable` (the backend cannot be reached). Absent on a single node: acquired.
   */
  runLease?: 'acquired' | 'held' | 'unavailable';
}

/** [cluster] A run another node executes, as the shared backend's run record describes it. */
export interface RemoteRun {
  runId: string;
  /** The node that runs it. */
  nodeId: string;
  provider: string;
  startedAt: number;
  firstSeq: number;
  pendingPermissions: readonly PendingPermission[];
}

export type ChatSessionEvent =
  /**
   * `history`: [ours] a client with `lastSeq` 0 asks for every retained event, earlier runs too.
   * `oldestSeq`: the log's oldest retained seq, read in the same turn (0 when none).
   */
  | { type: 'client.subscribe'; subscriberId: string; lastSeq: number; history?: boolean; oldestSeq: number }
  /** The client asked to leave (`chat.unsubscribe`). */
  | { type: 'client.unsubscribe'; subscriberId: string }
  /** The client's socket closed. */
  | { type: 'client.dropped'; subscriberId: string }
  /** `subscriberId` null: a run started with no socket (nobody is auto-subscribed). */
  | ({ type: 'client.send'; subscriberId: string | null } & RunRequest & SendLookup)
  | { type: 'client.abort'; subscriberId: string }
  | { type: 'client.permission-response'; subscriberId: string; requestId: string; decision: PermissionDecision }
  /** The gateway is closing: abort the running run, end it regardless after `shutdownAbortGrace`. */
  | { type: 'gateway.shutdown' }
  /**
   * The log shows this run started and never completed: a crash interrupted it (`gateway_restart`,
   * the default), or [cluster] its node was lost and this node took it over (`node_lost`).
   */
  | { type: 'run.interrupted'; runId: string; provider: string; reason?: 'gateway_restart' | 'node_lost' }
  /**
   * [cluster] Frames another node sequenced, read from the shared log (durable already), in seq
   * order. They are relayed to this node's subscribers; a run they open or end is tracked here.
   */
  | { type: 'remote.frames'; frames: readonly SequencedFrame[] }
  /** [cluster] The backend lists an unfinished run of this session on another node (seen when this actor starts). */
  | { type: 'remote.run-observed'; run: RemoteRun }
  /** [cluster] Another node's client asked to abort this node's run. */
  | { type: 'peer.abort'; runId: string }
  /** [cluster] Another node's client answered an approval of this node's run. */
  | { type: 'peer.permission-response'; runId: string; requestId: string; decision: PermissionDecision }
  /**
   * [cluster] This node lost the run's lease (the backend refused its writes, or could not be
   * reached for the lease time): the run is stopped here without an end; the node that takes
   * it over sequences its `complete`.
   */
  | { type: 'run.lost'; runId: string }
  /** The session was deleted (REST `DELETE`): close unless a run is running. */
  | { type: 'session.deleted' }
  /** A remembered `clientMessageId` is past its window (raised by this machine, delayed). */
  | { type: 'send.expired'; clientMessageId: string }
  | ChatRunParentEvent;

export type ChatSessionEmitted =
  /**
   * Sequenced events, consecutive seqs in order (one or many: a runtime's chunk is one emit): log
   * each, then send it to `subscribers`. `durable`: [cluster] another node sequenced and logged
   * them; only send them.
   */
  | { type: 'frames'; frames: readonly SequencedFrame[]; subscribers: readonly string[]; durable?: true }
  /** [cluster] A client here asked to abort a run another node executes: tell that node (its run record names it). */
  | { type: 'remote.abort'; runId: string }
  /** [cluster] A client here answered an approval of a run another node executes: tell that node. */
  | { type: 'remote.permission-response'; runId: string; requestId: string; decision: PermissionDecision }
  /** A frame for one socket only (errors). */
  | { type: 'reply'; subscriberId: string; frame: ProtocolErrorFrame }
  /**
   * A subscribe was accepted: the gateway sends `chat_subscribed`, then replays the log after
   * `replayAfter` (null: nothing to replay, the socket starts at `lastSeq`), then live frames follow.
   */
  | {
      type: 'subscribed';
      subscriberId: string;
      isProcessing: boolean;
      lastSeq: number;
      runId: string | null;
      replayAfter: number | null;
      /** The client missed events the log no longer holds, or claims a seq the log never had: reload over REST. */
      gap: boolean;
      pendingPermissions: readonly PendingPermission[];
    }
  | { type: 'run.started'; runId: string; provider: string; startedAt: number }
  /**
   * A send repeated a remembered `clientMessageId`: no run was started; the sender is attached to
   * the run the first one started, replayed from `replayAfter` (null: nothing to replay).
   */
  | { type: 'send.repeated'; subscriberId: string; runId: string; lastSeq: number; replayAfter: number | null }
  /**
   * A run asked for approval, or ended, while nobody watched the session: the host may tell its
   * user some other way (`ChatDeps.onAttention`, `--notify-url`).
   */
  | { type: 'attention'; kind: 'permission_request' | 'complete'; runId: string; frame: SequencedFrame }
  /** The run's one `complete` was sequenced (the frame just emitted): record the run as finished. */
  | { type: 'run.ended'; runId: string; exitCode: number; aborted: boolean }
  /** A request became answerable here, or stopped being so: the gateway's requestId → session index. */
  | { type: 'permission.opened'; requestId: string }
  | { type: 'permission.closed'; requestId: string }
  | { type: 'permission.resolve'; requestId: string; decision: PermissionDecision }
  /** The provider-native id changed: store it and broadcast `session_upserted`. */
  | { type: 'session-id.assigned'; providerSessionId: string };

export interface CurrentRun {
  runId: string;
  provider: string;
  startedAt: number;
  /** The seq its first event gets (or got): where a fresh client's replay of this run starts. */
  firstSeq: number;
  /**
   * [cluster] Absent for this node's run. For a run another node executes: that node, or null
   * while only its frames were seen (the gateway asks the backend's run record for the node).
   */
  nodeId?: string | null;
}

export interface ChatSessionContext {
  sessionId: string;
  seq: number;
  subscribers: readonly string[];
  currentRun: CurrentRun | null;
  /** The run whose failed abort locks the session, until it settles. */
  lockedBy: string | null;
  /** Runs whose actor is still alive (their runtime has not settled). */
  liveRuns: readonly string[];
  providerSessionId: string | null;
  pendingPermissions: readonly PendingPermission[];
  /** Sends remembered by `clientMessageId`, oldest first; each leaves after the window. */
  recentSends: readonly RecentSend[];
  /** [cluster] The last remote run seen ending: a stale record of it must not reopen it. */
  lastEndedRemoteRunId: string | null;
  /** [cluster] Runs whose lease this node lost: stopped, their messages no longer sequenced, until their actor settles. */
  lostRuns: readonly string[];
  limits: ChatSessionLimits;
}

/** What a subscriber is told about the session in `chat_subscribed` (also after a gap). */
export interface SubscriptionView {
  isProcessing: boolean;
  runId: string | null;
  pendingPermissions: readonly PendingPermission[];
}
