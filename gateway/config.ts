/**
 * Every bound and timing of the gateway, in one place. Hosts override any subset through
 * `deps.limits`; `resolveLimits` spreads the caller's values over these defaults and rejects
 * impossible combinations with a TypeError at construction time (as `ws` does).
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const SECOND = 1000;
const MINUTE = 60 * SECOND;

export const DEFAULT_LIMITS = {
  // ---- transport (all routes) ----
  /** Largest inbound frame on `/ws` and `/shell`; `ws` closes a bigger one with 1009. */
  maxPayloadBytes: 1 * MiB,
  /** Protocol ping period; a socket that missed the previous pong is terminated (dead within 1–2 periods). */
  heartbeatIntervalMs: 30 * SECOND,
  /** Sustained inbound frames per second per socket (token bucket refill rate); 0 disables the limit. */
  rateLimitPerSecond: 200,
  /** Token bucket size: a client may burst this many frames before the refill rate applies. Excess closes 1008. */
  rateLimitBurst: 400,

  // ---- /ws chat ----
  /** Events kept per session in the durable log (protocol: at least 5000). Older ones are pruned. */
  maxEventsPerSession: 5000,
  /** Bytes of event JSON kept per session in the durable log; whichever bound is hit first prunes. */
  maxBytesPerSession: 16 * MiB,
  /** Events of each live session kept in memory for replay without touching SQLite. */
  replayTailEvents: 1000,
  /** Unflushed log events that force a synchronous flush (otherwise the log flushes once per event-loop turn). */
  logBatchMaxEvents: 1000,
  /** A subscriber whose socket buffers more than this stops getting live frames and is caught up from the log later. */
  subscriberHighWaterMarkBytes: 1 * MiB,
  /** A lagging subscriber is caught up once its socket buffer is back under this. */
  subscriberLowWaterMarkBytes: 256 * KiB,
  /** How often a lagging subscriber's socket buffer is checked for having drained. */
  subscriberDrainPollMs: 25,
  /** Frames sent to a lagging subscriber per catch-up step before its buffer is checked again. */
  catchUpBatchEvents: 256,
  /**
   * A /ws or /shell socket whose send buffer is over this when the gateway must answer it (acks,
   * errors, broadcasts, restore frames) has stopped reading while it keeps asking; it is cut rather
   * than buffered without end. Far above what fan-out queues for a slow reader (the high-water
   * mark plus one catch-up batch) or a paused PTY leaves behind (its high-water mark plus one chunk).
   */
  maxSocketBufferBytes: 64 * MiB,
  /**
   * Bytes queued to all /ws and /shell sockets of the gateway together. The per-socket cap alone
   * let 30 sockets that stopped reading (each asking for screen restores) hold ~1 GiB. Checked
   * before a frame is queued: four sockets at the per-socket cap, or hundreds of slow readers at
   * their high-water marks, fit; beyond it a /shell socket that asks is cut and a /ws subscriber
   * lags (caught up from the log later). Must not be under `maxSocketBufferBytes`.
   */
  maxTotalSocketBufferBytes: 256 * MiB,
  /** A session with no subscribers and no running run is dropped from memory after this (its log stays). */
  sessionIdleTtlMs: 5 * MINUTE,
  /** Sessions held in memory at once; a subscribe or send beyond it gets INTERNAL_ERROR "Too many sessions". */
  maxLiveSessions: 10_000,
  /** Sessions one socket may be subscribed to at once; further entries of a chat.subscribe are skipped. */
  maxSubscriptionsPerSocket: 256,
  /**
   * Longest app session id accepted on /ws and /shell; longer ids are refused (they name actors,
   * log rows and PTY keys, and /shell prints them). 256 is far above any generated id (a UUID is 36).
   */
  maxSessionIdLength: 256,
  /** A runtime abort that has not answered by then counts as a failed abort. */
  abortTimeoutMs: 30 * SECOND,
  /** A session locked by a failed abort unlocks after this even if the runtime never settles. */
  lockedSessionTimeoutMs: 15 * MINUTE,
  /**
   * How long a `chat.send`'s `clientMessageId` is remembered per session: a send repeating it
   * within this (a retry after a dropped socket, a double click) starts no second run. A session
   * with remembered sends stays in memory until they expire.
   */
  clientMessageIdWindowMs: 10 * MINUTE,
  /** Longest `clientMessageId` a `chat.send` may carry; a longer one is refused with INVALID_PAYLOAD. */
  maxClientMessageIdLength: 128,

  // ---- /shell ----
  /** A PTY with no attached socket is killed after this. */
  shellDetachTimeoutMs: 30 * MINUTE,
  /** Lines of scrollback kept by the headless terminal that restores the screen on reconnect. */
  shellScrollbackLines: 1000,
  /** Pause the PTY when any attached socket buffers more than this. */
  shellHighWaterMarkBytes: 256 * KiB,
  /** Resume the PTY once every attached socket buffers less than this. */
  shellLowWaterMarkBytes: 32 * KiB,
  /** PTYs one user may hold at once. */
  maxPtysPerUser: 8,
  /** PTYs the gateway may hold at once. */
  maxPtysTotal: 64,
  /**
   * Cells (columns × lines) one screen restore serializes at most. Serializing is synchronous, so
   * a very wide terminal restores less of its scrollback rather than stall every socket (about
   * 10 ms per 125 000 cells); the visible screen is always restored.
   */
  shellRestoreMaxCells: 500_000,
  /** Characters of ANSI-stripped output searched for auth URLs (protocol: a rolling 32 768-character window). */
  shellAuthUrlWindowChars: 32_768,
  /** A killed PTY that has not exited after SIGHUP by then gets SIGKILL (its whole process group). */
  shellKillGraceMs: 2 * SECOND,
  /** Frames one /shell socket may send while its `init` is still resolving; beyond it the socket is closed 1008. */
  shellMaxPendingFrames: 1000,
  /**
   * Input bytes one PTY may hold that its program has not read yet (the kernel takes a few KiB,
   * the rest waits in the gateway). One largest frame (`maxPayloadBytes`) fits whole, so any
   * single paste into a program that reads gets through; a program that never reads cannot make
   * the gateway hold more (0.9 MB frames at 150/s grew it by 1.1 GB in 8 s). Input beyond it is
   * dropped and the viewer who typed it gets a red error line.
   */
  shellMaxPendingInputBytes: 1 * MiB,

  // ---- /plugin-ws ----
  /** Bytes of client frames queued while the upstream connects; over it the client is closed 1008. */
  pluginQueueMaxBytes: 1 * MiB,
  /** Client frames queued while the upstream connects; over it the client is closed 1008. */
  pluginQueueMaxFrames: 1000,
  /** An upstream that has not opened by then closes the client with 4504. */
  pluginConnectTimeoutMs: 10 * SECOND,
  /** Pause reading one side when the other side's socket buffers more than this. */
  pluginHighWaterMarkBytes: 1 * MiB,
  /** Resume reading once the buffer is back under this. */
  pluginLowWaterMarkBytes: 256 * KiB,
  /** A closing tunnel waits this long for both close handshakes, then cuts whichever leg has not finished. */
  pluginCloseTimeoutMs: 5 * SECOND,
  /** Largest frame accepted from a plugin (upstream); a bigger one is an upstream error (client closed 4502). */
  pluginMaxPayloadBytes: 16 * MiB,

  // ---- standalone REST (gateway/app/cli/rest.ts; an embedding host creates sessions in its own store) ----
  /**
   * Longest `projectPath` POST /api/providers/sessions accepts, in UTF-8 bytes: Linux's PATH_MAX,
   * so no path the OS could open is refused. Unbounded, 2 000 sessions with 60 KB paths grew the
   * data dir by 110 MB. Longer: 400 PROJECT_PATH_TOO_LONG.
   */
  maxProjectPathBytes: 4096,
  /**
   * Sessions the standalone server stores at most (rows are never deleted). With the bound above a
   * row is at most ~4.5 KB, so the table stays under ~45 MB; each session's event log has its own
   * bounds. Beyond it POST /api/providers/sessions answers 507 MAX_STORED_SESSIONS.
   */
  maxStoredSessions: 10_000,
} as const;

export type GatewayLimits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

export function resolveLimits(overrides: Partial<GatewayLimits> | undefined): GatewayLimits {
  const limits: GatewayLimits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (!(key in DEFAULT_LIMITS)) throw new TypeError(`Unknown limit "${key}"`);
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`Limit "${key}" must be a finite number >= 0, got ${String(value)}`);
    }
    (limits as Record<string, number>)[key] = value;
  }
  const pairs: Array<[keyof GatewayLimits, keyof GatewayLimits]> = [
    ['subscriberLowWaterMarkBytes', 'subscriberHighWaterMarkBytes'],
    ['subscriberHighWaterMarkBytes', 'maxSocketBufferBytes'],
    ['shellLowWaterMarkBytes', 'shellHighWaterMarkBytes'],
    ['shellHighWaterMarkBytes', 'maxSocketBufferBytes'],
    ['maxSocketBufferBytes', 'maxTotalSocketBufferBytes'],
    ['pluginLowWaterMarkBytes', 'pluginHighWaterMarkBytes'],
  ];
  for (const [low, high] of pairs) {
    if (limits[low] > limits[high]) throw new TypeError(`Limit "${low}" must not exceed "${high}"`);
  }
  if (limits.rateLimitPerSecond > 0 && limits.rateLimitBurst < 1) {
    throw new TypeError('Limit "rateLimitBurst" must be at least 1 when rate limiting is on');
  }
  if (limits.maxEventsPerSession < 1) throw new TypeError('Limit "maxEventsPerSession" must be at least 1');
  return limits;
}
