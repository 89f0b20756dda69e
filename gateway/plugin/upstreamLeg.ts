import { fromCallback } from 'xstate';
import { WebSocket } from 'ws';

import type { LegCommand, UpstreamLegInput } from '../../machines/pluginTunnel.types.js';
import type { Logger } from '../logger.js';
import { bindSocketLeg, type LegWaterMarks } from './socketLeg.js';

export interface UpstreamLegOptions {
  waterMarks: LegWaterMarks;
  /** Largest frame accepted from the plugin; a bigger one is an upstream error. */
  maxPayloadBytes: number;
  logger: Logger;
}

/** Where a plugin's WebSocket server listens: always loopback, always `/ws` (protocol §4). */
export function upstreamUrl(port: number): string {
  return `ws://127.0.0.1:${port}/ws`;
}

/**
 * The upstream leg: dials the plugin when spawned and relays it to the tunnel actor. Stopping
 * the leg ends the connection at once (a handshake still in flight is aborted), which is how
 * the machine aborts an upstream the client no longer wants.
 */
export function createUpstreamLeg(options: UpstreamLegOptions) {
  return fromCallback<LegCommand, UpstreamLegInput>(({ input, sendBack, receive }) => {
    const ws = new WebSocket(upstreamUrl(input.port), {
      // Loopback traffic gains nothing from compression; it would only cost CPU on both ends.
      perMessageDeflate: false,
      maxPayload: options.maxPayloadBytes,
    });
    const leg = bindSocketLeg(ws, {
      side: 'upstream',
      tunnelId: input.tunnelId,
      waterMarks: options.waterMarks,
      logger: options.logger,
      sendBack,
    });
    const onOpen = () => sendBack({ type: 'upstream.opened' });
    const onPong = () => sendBack({ type: 'upstream.pong' });
    const onError = (error: Error) => {
      options.logger.warn('plugin tunnel: upstream error', { tunnelId: input.tunnelId, port: input.port, error: error.message });
      sendBack({ type: 'upstream.failed', message: error.message });
    };
    ws.on('open', onOpen);
    ws.on('pong', onPong);
    ws.on('error', onError);
    receive((command) => leg.command(command));

    return () => {
      ws.off('open', onOpen);
      ws.off('pong', onPong);
      ws.off('error', onError);
      leg.detach();
      if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    };
  });
}
