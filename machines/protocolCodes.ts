/**
 * Every code a client of the gateway can be shown, in one place: the WebSocket close codes (with
 * the reason text sent beside each), the `protocol_error` codes of `/ws`, and the error messages
 * of `/shell`. Machines, routes and the playground refer to them by name only; docs/PROTOCOL.md,
 * docs/PLUGINS.md and docs/SHELL.md document them row by row.
 *
 * Pure data: the playground (browser code) gets the same table as an ES module
 * (`protocolCodesModuleSource()`, served as `/codes.js`), so client and server cannot disagree.
 */

/** RFC 6455 §7.4.1 status codes by their RFC names: the numbers the table below is made of. */
export const WS_STATUS = {
  NORMAL_CLOSURE: 1000,
  GOING_AWAY: 1001,
  /** Never sent: what a peer reports when the close frame had no status code. */
  NO_STATUS_RECEIVED: 1005,
  /** Never sent: what a peer reports when the connection ended without a close frame. */
  ABNORMAL_CLOSURE: 1006,
  INVALID_FRAME_PAYLOAD_DATA: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
} as const;

/** Codes 4000–4999 are for applications (RFC 6455 §7.4.2): a peer's code in it means something to its counterpart. */
export const PRIVATE_USE_CLOSE_CODES = { first: 4000, last: 4999 } as const;

export interface CloseEntry {
  readonly code: number;
  /** The close frame's reason; empty where `ws` itself closes (it sends none). */
  readonly reason: string;
}

/**
 * Every close the gateway sends with a fixed code and reason. Several names share a code (1008,
 * 4404): the name says why, the code says what kind of failure it is. Closes forwarded from one
 * plugin-tunnel leg to the other keep the peer's code or map it (machines/pluginTunnel.closeCodes.ts).
 */
export const CLOSE = {
  /** `close()` of the gateway: every socket, and both legs of every tunnel. */
  SERVER_SHUTTING_DOWN: { code: WS_STATUS.GOING_AWAY, reason: 'Server shutting down' },
  /** Sent by `ws`: a text frame that is not valid UTF-8. */
  INVALID_UTF8: { code: WS_STATUS.INVALID_FRAME_PAYLOAD_DATA, reason: '' },
  /** The per-socket token bucket is empty (`rateLimitPerSecond`, `rateLimitBurst`). */
  RATE_LIMIT: { code: WS_STATUS.POLICY_VIOLATION, reason: 'Rate limit' },
  /** `/shell`: more than `shellMaxPendingFrames` frames arrived while an `init` was resolving. */
  TOO_MANY_PENDING_FRAMES: { code: WS_STATUS.POLICY_VIOLATION, reason: 'Too many pending frames' },
  /** `/plugin-ws`: the client sent more than the pre-open queue holds. */
  TUNNEL_QUEUE_FULL: { code: WS_STATUS.POLICY_VIOLATION, reason: 'Tunnel queue full' },
  /** Sent by `ws`: a frame over `maxPayloadBytes`. */
  FRAME_TOO_LARGE: { code: WS_STATUS.MESSAGE_TOO_BIG, reason: '' },
  /** The gateway failed to set the connection up (a tunnel actor that could not be spawned). */
  INTERNAL_ERROR: { code: WS_STATUS.INTERNAL_ERROR, reason: 'Internal error' },
  /** `/plugin-ws`, to the client: the upstream's connection dropped without a close frame. */
  UPSTREAM_CLOSED_ABNORMALLY: { code: WS_STATUS.INTERNAL_ERROR, reason: 'Upstream closed abnormally' },
  /** `/plugin-ws`, to the upstream: the client's connection dropped without a close frame. */
  CLIENT_WENT_AWAY: { code: WS_STATUS.GOING_AWAY, reason: 'Client went away' },
  /** `/plugin-ws`: the name does not match `^[a-zA-Z0-9_-]+$`. */
  INVALID_PLUGIN_NAME: { code: 4400, reason: 'Invalid plugin name' },
  /** The user's token expired while the socket was open (`expiresAt` / `exp`). */
  TOKEN_EXPIRED: { code: 4401, reason: 'Token expired' },
  /** No route at this path. */
  UNKNOWN_PATH: { code: 4404, reason: 'Unknown path' },
  /** `/plugin-ws`: no port for the name, or no plugin registry. */
  PLUGIN_NOT_RUNNING: { code: 4404, reason: 'Plugin not running' },
  /** `/plugin-ws`: the upstream refused, failed or errored, or the port lookup threw. */
  UPSTREAM_ERROR: { code: 4502, reason: 'Upstream error' },
  /** `/plugin-ws`: the upstream did not open in time, or missed a heartbeat pong. */
  UPSTREAM_TIMEOUT: { code: 4504, reason: 'Upstream timeout' },
} as const satisfies Record<string, CloseEntry>;

export type CloseName = keyof typeof CLOSE;

/** The close codes alone, by name (the public `CLOSE_CODES` of the package, and the playground's). */
export const CLOSE_CODES = Object.fromEntries(Object.entries(CLOSE).map(([name, entry]) => [name, entry.code])) as {
  readonly [K in CloseName]: (typeof CLOSE)[K]['code'];
};

/** Every `protocol_error` code of `/ws`, with the text a client sees when no detail is given. */
export const ERROR_CODES = {
  INTERNAL_ERROR: 'The gateway failed to handle this frame.',
  INVALID_PAYLOAD: 'Frames must be JSON objects with a string "type".',
  UNKNOWN_MESSAGE_TYPE: 'Unknown message type.',
  SESSION_ID_REQUIRED: 'This frame requires a non-empty sessionId.',
  SESSION_NOT_FOUND: 'Session not found. Create it via POST /api/providers/sessions first.',
  UNSUPPORTED_PROVIDER: 'The session\'s provider has no runtime on this gateway.',
  RUN_IN_PROGRESS: 'The session already has a run in progress.',
  NO_ACTIVE_RUN: 'The session has no active run.',
  PAYLOAD_TOO_LARGE: 'The frame asks for more than the gateway allows.',
  UNKNOWN_PERMISSION_REQUEST: 'No pending permission request with this requestId in a session this socket is subscribed to.',
  /** [cluster] The shared backend (Redis) cannot be reached: nothing was started or written. */
  BACKEND_UNAVAILABLE: 'The gateway cannot reach its shared backend; try again shortly.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The `message` of `/shell` `{"type":"error"}` frames. The `/shell` protocol has no codes (the
 * baseline client shows the text), so the text is the contract.
 */
export const SHELL_ERRORS = {
  INVALID_PROJECT_PATH: 'Invalid project path',
  INVALID_SESSION_ID: 'Invalid session ID',
  /** [ours] a `sessionId` longer than `maxSessionIdLength`. */
  SESSION_ID_TOO_LONG: 'Session ID too long',
  TOO_MANY_TERMINALS: 'Too many terminals',
  /**
   * [cluster] The key's PTY lives on another gateway node (PTYs are node-local): the frame's
   * `message` is this text, ": ", and that node's id; `code` is this name and `nodeId` the node.
   */
  SHELL_ON_OTHER_NODE: 'Terminal runs on another gateway node',
} as const;

/**
 * Why a `projectPath` was refused, by code: the `code` of a `400` from the standalone server's
 * `POST /api/providers/sessions`, and [ours] the `code` beside `message: 'Invalid project path'`
 * in a `/shell` `error` frame. Paths are resolved through symlinks and checked against the
 * workspace roots (`shell.allowedRoots`, `--workspace-root`); outside them nothing more is said.
 */
export const PROJECT_PATH_ERRORS = {
  /** REST only: longer than `maxProjectPathBytes`. */
  PROJECT_PATH_TOO_LONG: 'projectPath is longer than maxProjectPathBytes',
  /** REST only: a relative path would depend on the gateway's working directory. */
  PROJECT_PATH_NOT_ABSOLUTE: 'projectPath must be an absolute path',
  PROJECT_PATH_NOT_FOUND: 'projectPath does not exist',
  PROJECT_PATH_NOT_DIRECTORY: 'projectPath is not a directory',
  PROJECT_PATH_OUTSIDE_WORKSPACE: 'projectPath is outside every workspace root',
} as const;

export type ProjectPathErrorCode = keyof typeof PROJECT_PATH_ERRORS;

/**
 * The table as the text of an ES module, for browser code that cannot import TypeScript: the
 * standalone server serves it as `/codes.js`. Data only (JSON), so serving it runs nothing of ours.
 */
export function protocolCodesModuleSource(): string {
  return [
    '// Generated from machines/protocolCodes.ts: the gateway\'s close codes and error codes.',
    `export const CLOSE_CODES = ${JSON.stringify(CLOSE_CODES)};`,
    `export const CLOSE = ${JSON.stringify(CLOSE)};`,
    `export const ERROR_CODES = ${JSON.stringify(ERROR_CODES)};`,
    `export const SHELL_ERRORS = ${JSON.stringify(SHELL_ERRORS)};`,
    `export const PROJECT_PATH_ERRORS = ${JSON.stringify(PROJECT_PATH_ERRORS)};`,
    '',
  ].join('\n');
}
