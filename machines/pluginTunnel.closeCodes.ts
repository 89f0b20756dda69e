/**
 * Close codes of the `/plugin-ws/<name>` tunnel, and how a close on one leg is forwarded to the
 * other. Pure data and functions: the tunnel machine and the route both read this table, and
 * docs/PLUGINS.md documents it row by row.
 */

export const PLUGIN_CLOSE = {
  invalidName: { code: 4400, reason: 'Invalid plugin name' },
  notRunning: { code: 4404, reason: 'Plugin not running' },
  upstreamError: { code: 4502, reason: 'Upstream error' },
  upstreamTimeout: { code: 4504, reason: 'Upstream timeout' },
  queueFull: { code: 1008, reason: 'Tunnel queue full' },
  shuttingDown: { code: 1001, reason: 'Server shutting down' },
} as const;

/** How to close a leg. No `code` means a close frame without a status (the peer sees 1005). */
export interface CloseInstruction {
  code?: number;
  reason?: string;
}

/** 1005: the peer's close frame had no status code. */
const NO_STATUS = 1005;
/** 1006: the connection ended without a close frame (never sent on the wire). */
const ABNORMAL = 1006;

/** Codes meaningful to the other side as they are: normal, going away, and the application range. */
function isForwardable(code: number): boolean {
  return code === 1000 || code === 1001 || (code >= 4000 && code <= 4999);
}

/** What the client is told when the upstream closed with `code`/`reason`. */
export function closeForClient(code: number, reason: string): CloseInstruction {
  if (isForwardable(code)) return { code, reason };
  if (code === NO_STATUS) return {};
  if (code === ABNORMAL) return { code: 1011, reason: 'Upstream closed abnormally' };
  // Protocol-level codes (1002, 1007, 1009, …) describe the upstream leg, not the client's
  // conversation; the client only needs to know the far end failed.
  return { code: 1011, reason: `Upstream closed with ${code}` };
}

/** What the upstream is told when the client closed with `code`/`reason`. */
export function closeForUpstream(code: number, reason: string): CloseInstruction {
  if (isForwardable(code)) return { code, reason };
  if (code === NO_STATUS) return {};
  // A client that vanished (network drop, tab killed) has gone away as far as the plugin cares.
  if (code === ABNORMAL) return { code: 1001, reason: 'Client went away' };
  return { code: 1011, reason: `Client closed with ${code}` };
}
