import { CLOSE, PRIVATE_USE_CLOSE_CODES, WS_STATUS } from './protocolCodes.js';

/**
 * Close codes of the `/plugin-ws/<name>` tunnel, and how a close on one leg is forwarded to the
 * other. Pure data and functions over the one table (machines/protocolCodes.ts): the tunnel
 * machine and the route read them, and docs/PLUGINS.md documents them row by row.
 */

/** The closes the tunnel itself decides, in the order docs/PLUGINS.md lists them. */
export const PLUGIN_CLOSE = {
  invalidName: CLOSE.INVALID_PLUGIN_NAME,
  notRunning: CLOSE.PLUGIN_NOT_RUNNING,
  upstreamError: CLOSE.UPSTREAM_ERROR,
  upstreamTimeout: CLOSE.UPSTREAM_TIMEOUT,
  queueFull: CLOSE.TUNNEL_QUEUE_FULL,
  shuttingDown: CLOSE.SERVER_SHUTTING_DOWN,
} as const;

/** How to close a leg. No `code` means a close frame without a status (the peer sees 1005). */
export interface CloseInstruction {
  code?: number;
  reason?: string;
}

/** Codes meaningful to the other side as they are: normal, going away, and the application range. */
function isForwardable(code: number): boolean {
  return (
    code === WS_STATUS.NORMAL_CLOSURE ||
    code === WS_STATUS.GOING_AWAY ||
    (code >= PRIVATE_USE_CLOSE_CODES.first && code <= PRIVATE_USE_CLOSE_CODES.last)
  );
}

/** What the client is told when the upstream closed with `code`/`reason`. */
export function closeForClient(code: number, reason: string): CloseInstruction {
  if (isForwardable(code)) return { code, reason };
  if (code === WS_STATUS.NO_STATUS_RECEIVED) return {};
  if (code === WS_STATUS.ABNORMAL_CLOSURE) return { ...CLOSE.UPSTREAM_CLOSED_ABNORMALLY };
  // Protocol-level codes (1002, 1007, 1009, …) describe the upstream leg, not the client's
  // conversation; the client only needs to know the far end failed.
  return { code: WS_STATUS.INTERNAL_ERROR, reason: `Upstream closed with ${code}` };
}

/** What the upstream is told when the client closed with `code`/`reason`. */
export function closeForUpstream(code: number, reason: string): CloseInstruction {
  if (isForwardable(code)) return { code, reason };
  if (code === WS_STATUS.NO_STATUS_RECEIVED) return {};
  // A client that vanished (network drop, tab killed) has gone away as far as the plugin cares.
  if (code === WS_STATUS.ABNORMAL_CLOSURE) return { ...CLOSE.CLIENT_WENT_AWAY };
  return { code: WS_STATUS.INTERNAL_ERROR, reason: `Client closed with ${code}` };
}
