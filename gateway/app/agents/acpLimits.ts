/**
 * Every bound and timing of the ACP runtime, each with why it has its value. `createAcpRuntime`
 * takes any subset as options (tests shrink them); these are the defaults.
 */
export const ACP_LIMITS = {
  /**
   * Live agent processes at once (one per app session). A real agent is a Node or Rust process of
   * 100–400 MB; eight is what a laptop runs side by side. At the bound the least recently used idle
   * process is stopped; when every one is busy the new run fails with a clear error.
   */
  maxAgentProcesses: 8,
  /** An agent process with no run for this long is stopped; the next chat.send starts (and loads) a new one. */
  idleStopMs: 10 * 60_000,
  /** `initialize` unanswered by then: the agent is stuck (or is not an ACP agent). npx may download first. */
  initializeTimeoutMs: 60_000,
  /** `session/new` or `session/load` unanswered by then; a load replays history, so it may take a while. */
  sessionSetupTimeoutMs: 60_000,
  /** After `session/cancel`, how long the turn may take to stop before its process is killed. */
  cancelGraceMs: 5_000,
  /** After SIGTERM to an agent's process group, how long before SIGKILL. */
  killGraceMs: 2_000,
  /**
   * One JSON-RPC message per line. A file read answer or a diff of a large file can be several MB;
   * a line longer than this is a broken or hostile agent, and buffering it would be unbounded.
   */
  maxLineBytes: 8 * 1024 * 1024,
  /**
   * Updates one turn may send. A long real turn streams a few thousand chunks; past this the agent
   * is looping, and every update costs a row in the session's log.
   */
  maxUpdatesPerRun: 50_000,
  /**
   * Permission requests one run may have open at once. Each is a frame, an entry here and one in
   * the session's pending list (with the agent's tool input), and nothing else bounds how many an
   * agent asks; beyond it a request is answered `cancelled` at once, with no frame. Every request
   * also counts against `maxUpdatesPerRun`, so a flood of them ends the run like a flood of updates.
   */
  maxOpenPermissionsPerRun: 16,
  /** Tool calls remembered per run to pair a `tool_call_update` with its call (oldest forgotten first). */
  maxTrackedToolCalls: 1_024,
  /** Largest file `fs/read_text_file` returns; beyond it the agent gets an error. */
  maxReadFileBytes: 16 * 1024 * 1024,
  /** Terminals one session may hold at once (`terminal/create` beyond it is refused). */
  maxTerminalsPerSession: 16,
  /** Output a terminal keeps (the newest bytes); the agent's own `outputByteLimit` may lower it. */
  maxTerminalOutputBytes: 1024 * 1024,
  /** stderr lines of one agent process that reach the gateway log; the rest are counted, not logged. */
  maxStderrLinesLogged: 200,
  /** One stderr line is cut to this many characters in the log. */
  maxStderrLineChars: 500,
  /** The end of stderr kept to explain a failure in the run's `error` frame. */
  stderrTailChars: 2_000,
} as const;

export type AcpLimits = { -readonly [K in keyof typeof ACP_LIMITS]: number };

export function resolveAcpLimits(overrides: Partial<AcpLimits> = {}): AcpLimits {
  const limits: AcpLimits = { ...ACP_LIMITS };
  for (const [name, value] of Object.entries(overrides) as Array<[keyof AcpLimits, number | undefined]>) {
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < 1 || !(name in ACP_LIMITS)) {
      throw new TypeError(`ACP limit ${name} must be a finite number >= 1, got ${String(value)}`);
    }
    limits[name] = value;
  }
  return limits;
}
