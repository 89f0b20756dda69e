/**
 * The scenario format: one JSON file describes who connects, what they send, what the agent
 * runtime / PTY / plugin upstream do, when the clock moves, and which frames each client must
 * receive. docs/SCENARIOS.md explains every field; scenario.schema.json is the same contract
 * for editors and for `loadScenario`, which refuses a file that does not fit it.
 */

/** Milliseconds, or a string such as `"250ms"`, `"30s"`, `"30m"`, `"1h"`. */
export type Duration = number | string;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A user the scenario's `authenticateWebSocket` returns for a token. */
export interface UserSpec {
  id?: string | number;
  username?: string;
  /** The user's token expires this many ms after it was authenticated (negative: already expired). */
  expiresInMs?: number;
}

/** What a run does when the gateway asks the runtime to abort it. */
export interface AbortBehaviour {
  /** What `abort()` answers: true, false, never (`hang`) or a rejection (`throw`). */
  answer: boolean | 'hang' | 'throw';
  /** Messages the run sends from inside `abort()`, before it answers (e.g. `permission_cancelled`). */
  emit?: JsonObject[];
  /** After answering: the run's promise resolves, rejects, or the script goes on (`continue`). */
  then?: 'resolve' | 'reject' | 'continue';
}

/**
 * `honour`: answer true and resolve. `ignore`: answer false and keep running the script.
 * `hang`: never answer. `throw`: reject. `manual`: the steps answer (`answerAbort`).
 */
export type AbortPolicy = 'honour' | 'ignore' | 'hang' | 'throw' | 'manual' | AbortBehaviour;

/** One action of a run's script, executed in order from the moment `run()` is called. */
export type RunAction =
  | { emit: JsonObject | JsonObject[]; repeat?: number }
  | { setSessionId: string }
  | { delay: Duration }
  | { resolve: JsonValue }
  | { throw: string }
  | { hang: true };

export interface RunScript {
  script?: RunAction[];
  onAbort?: AbortPolicy;
}

export type RuntimeSetup =
  | {
      kind: 'scripted';
      /** Providers `hasRuntime` answers true for. Default `["scripted"]`. */
      providers?: string[];
      /** Scripts taken by successive `run()` calls; a run without a script is driven by `runtime` steps. */
      runs?: RunScript[];
      /** Abort policy of runs that have no script of their own. Default `honour`. */
      onAbort?: AbortPolicy;
    }
  | {
      /** The built-in demo agent, with its timers on the scenario's simulated clock. */
      kind: 'demo';
      deltaIntervalMs?: number;
      permissionTimeoutMs?: number;
    };

/** A plugin name → the scripted upstream serving it, `null` (not running) or `"closed-port"`. */
export type PluginTarget = string | null;

export interface GatewaySetup {
  runtime?: RuntimeSetup;
  limits?: Record<string, number>;
  plugins?: Record<string, PluginTarget>;
  allowedOrigins?: string[];
  /** token → user. Default: `{ "test-token": { "id": "u1" } }`. */
  users?: Record<string, UserSpec>;
  /** Platform mode: `authenticateWebSocket(null)` is called and returns the first user. */
  platform?: boolean;
  shell?: {
    allowedRoots?: string[];
    envDenyList?: string[];
    /** Variables set in the gateway process's environment for the scenario (restored after it). */
    processEnv?: Record<string, string>;
  };
}

export interface SessionSpec {
  provider?: string;
  /** Default: the scenario's work directory (`${dir}`). */
  projectPath?: string | null;
  providerSessionId?: string;
}

export interface UpstreamSpec {
  /** Hold every WebSocket handshake until an `accept` step. */
  holdHandshake?: boolean;
  /** Answer pings. Default true. */
  autoPong?: boolean;
}

/** Fields every step may carry. */
export interface StepCommon {
  /** Free text shown when the step fails. */
  note?: string;
  /** How long this step may wait for its condition (default: the scenario's `timeoutMs`). */
  timeoutMs?: number;
  /** Recorded time (ms since the recording started); used when the scenario's `timing` is `recorded`. */
  at?: number;
}

export type Step = StepCommon &
  (
    | ConnectStep
    | SendStep
    | CloseStep
    | DropStep
    | PauseStep
    | ResumeStep
    | ExpectStep
    | ExpectCloseStep
    | ExpectQuietStep
    | RuntimeStep
    | PtyStep
    | UpstreamStep
    | AdvanceStep
    | RestartStep
    | BroadcastStep
    | ExpectStoreStep
    | ExpectGatewayStep
    | ExpectRuntimeStep
  );

export interface ConnectStep {
  connect: string;
  /** Default `/ws`. */
  path?: string;
  /** Default `test-token`; null sends none. */
  token?: string | null;
  /** Where the token goes. Default `query`. */
  tokenIn?: 'query' | 'header';
  headers?: Record<string, string>;
  /** The upgrade must be refused with this HTTP status. */
  expectRejected?: number;
  /** Answer the server's pings (default true). */
  autoPong?: boolean;
}

export interface SendStep {
  send: string;
  /** Sent as JSON text. */
  frame?: JsonValue;
  /** Sent as this exact text. */
  text?: string;
  /** Sent as a binary frame (base64). */
  binary?: string;
  /** Send the same frame this many times. */
  repeat?: number;
}

export interface CloseStep {
  close: string;
  code?: number;
  reason?: string;
}

export interface DropStep {
  /** Abrupt: the TCP connection is destroyed without a close frame. */
  drop: string;
}

export interface PauseStep {
  /** The client stops reading its socket (a slow client). */
  pause: string;
}

export interface ResumeStep {
  resume: string;
}

/** Expected frames, consumed in order from each named client's queue. */
export interface ExpectStep {
  expect: string | string[];
  frames: JsonValue[];
}

export interface ExpectCloseStep {
  expectClose: string;
  code?: number;
  reason?: string;
  /** Frames still unread when the socket closed are dropped instead of failing the scenario. */
  skipFrames?: boolean;
}

/** A round trip through the gateway, then: no frame is waiting that the scenario did not expect. */
export interface ExpectQuietStep {
  expectQuiet: string | string[];
}

export interface RuntimeStep {
  /** The name of a run (bound by `start`, in the order runs start). */
  runtime: string;
  /** Waits for the next run to start and names it; the listed fields must match its call. */
  start?: { provider?: string; content?: JsonValue; options?: JsonValue } | true;
  emit?: JsonObject | JsonObject[];
  repeat?: number;
  setSessionId?: string;
  resolve?: JsonValue;
  reject?: string;
  /** Waits until the gateway has called `abort()` for this run. */
  awaitAbort?: true;
  /** Answers a pending `abort()` (policy `manual`). */
  answerAbort?: boolean | 'throw';
  /** The run's promise must have settled (true) or not (false). */
  expectSettled?: boolean;
}

export interface PtyStep {
  /** The name of a PTY (bound by `spawned`, in spawn order). */
  pty: string;
  /** Waits for the next PTY spawn and names it; the listed fields must match. */
  spawned?: { command?: JsonValue; cwd?: JsonValue; cols?: number; rows?: number; env?: JsonValue } | true;
  /** Printed by the PTY (`"$fill:N:TEXT"`: TEXT N times). */
  output?: string;
  /** Print `output` this many times, one chunk each. */
  repeat?: number;
  exit?: { code: number; signal?: number };
  /** Everything written to the PTY since the last `expectInput` must match. */
  expectInput?: JsonValue;
  expectKilled?: boolean;
  expectSize?: { cols: number; rows: number };
  expectPaused?: boolean;
}

export interface UpstreamStep {
  /** The name of a scripted upstream declared in `upstreams`. */
  upstream: string;
  /** Completes held handshakes. */
  accept?: true;
  /** Waits until this many connections were accepted (`connection` names them `1`, `2`, …). */
  awaitConnections?: number;
  /** Which connection the step acts on (default: the newest). */
  connection?: number;
  sendText?: string;
  sendBinary?: string;
  close?: { code?: number; reason?: string };
  /** Frames received from the gateway since the last `expectFrames` (`{text}` / `{binary}`). */
  expectFrames?: JsonValue[];
  /** The connection's close code/reason as the upstream saw it. */
  expectClosed?: { code?: number; reason?: string };
  /** Waits until this many TCP connections to the upstream have ended. */
  expectTcpClosed?: number;
  /** Upgrade requests the upstream has seen so far (paths). */
  expectUpgrades?: JsonValue;
}

export interface AdvanceStep {
  /** Moves the simulated clock: every XState delay and scripted delay that falls due fires. */
  advance: Duration;
}

export interface RestartStep {
  /** `graceful`: `close()` then a new gateway on the same data. `crash`: the old one is cut off without closing. */
  restart: 'graceful' | 'crash';
}

export interface BroadcastStep {
  /** The host's broadcast API: sent to every `/ws` socket. */
  broadcast: JsonObject;
}

export interface ExpectStoreStep {
  expectStore: string;
  providerSessionId?: string | null;
}

export interface ExpectGatewayStep {
  expectGateway: {
    runningRuns?: JsonValue;
    /** Live shell PTYs. */
    shells?: number;
    /** Chat sessions held in memory. */
    chatSessions?: number;
  };
}

export interface ExpectRuntimeStep {
  expectRuntime: {
    /** Session ids `abort()` was called with, in order. */
    aborts?: JsonValue;
    /** `resolveToolApproval` calls: `{ requestId, decision }`. */
    approvals?: JsonValue;
    /** Number of `run()` calls so far. */
    runs?: number;
  };
}

export interface Scenario {
  $schema?: string;
  name: string;
  description?: string;
  /** Protocol rules and shared cases this scenario demonstrates (free text tags). */
  covers?: string[];
  gateway?: GatewaySetup;
  sessions?: Record<string, SessionSpec>;
  upstreams?: Record<string, UpstreamSpec>;
  /** `recorded`: before each step the clock is moved to the step's `at`. Default `steps`. */
  timing?: 'steps' | 'recorded';
  /** Default per-step wait bound. Default 10 000. */
  timeoutMs?: number;
  steps: Step[];
}
