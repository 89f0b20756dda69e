import type { IncomingMessage } from 'node:http';

import type { WebSocket } from 'ws';

import type { GatewayUser } from './types.js';

/** What the upgrade handler learned about an authenticated socket, handed to its route. */
export interface ConnectionContext {
  request: IncomingMessage;
  /** The user `authenticateWebSocket` returned. */
  user: GatewayUser;
  /** `user.id`, else `user.userId`, else null. */
  userId: string | number | null;
  /** The exact pathname the socket was routed by (query stripped). */
  pathname: string;
}

/**
 * One route's socket adapter (`/ws`, `/shell`, `/plugin-ws/:name`). The router hands it a socket
 * that is already authenticated; from then on the route owns it.
 */
export interface RouteHandler {
  handle(ws: WebSocket, context: ConnectionContext): void;
  /** Graceful shutdown: ends what the route owns (runs, PTYs, tunnels) and closes its sockets with 1001. */
  close(): Promise<void>;
}
