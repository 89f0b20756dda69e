import { fromCallback } from 'xstate';
import { WebSocket } from 'ws';

import type { ClientLegInput, LegCommand } from '../../machines/pluginTunnel.types.js';
import { CLOSE, WS_STATUS } from '../../machines/protocolCodes.js';
import type { Logger } from '../logger.js';
import { bindSocketLeg, type LegWaterMarks } from './socketLeg.js';

export interface ClientLegOptions {
  /** The route's tunnel id → client socket map; sockets never enter machine context. */
  sockets: ReadonlyMap<string, WebSocket>;
  waterMarks: LegWaterMarks;
  logger: Logger;
  /** Called once the leg has let go of its socket (the tunnel is over). */
  onReleased(tunnelId: string): void;
}

/**
 * The client leg: relays the browser's socket to the tunnel actor for the tunnel's whole life.
 * When the actor stops it releases the socket: one still open (the actor was stopped from
 * outside) is closed with 1001, one stuck in its closing handshake is cut.
 */
export function createClientLeg(options: ClientLegOptions) {
  return fromCallback<LegCommand, ClientLegInput>(({ input, sendBack, receive }) => {
    const ws = options.sockets.get(input.tunnelId);
    if (!ws) {
      sendBack({ type: 'client.closed', code: WS_STATUS.ABNORMAL_CLOSURE, reason: '' });
      return () => options.onReleased(input.tunnelId);
    }
    const leg = bindSocketLeg(ws, {
      side: 'client',
      tunnelId: input.tunnelId,
      waterMarks: options.waterMarks,
      logger: options.logger,
      sendBack,
    });
    receive((command) => leg.command(command));
    // Closed between the upgrade and now: its 'close' event has already fired.
    if (ws.readyState === WebSocket.CLOSED) sendBack({ type: 'client.closed', code: WS_STATUS.ABNORMAL_CLOSURE, reason: '' });

    return () => {
      leg.detach();
      if (ws.readyState === WebSocket.OPEN) ws.close(CLOSE.SERVER_SHUTTING_DOWN.code, CLOSE.SERVER_SHUTTING_DOWN.reason);
      else if (ws.readyState === WebSocket.CLOSING) ws.terminate();
      options.onReleased(input.tunnelId);
    };
  });
}
