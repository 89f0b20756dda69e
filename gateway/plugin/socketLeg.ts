import { WebSocket, type RawData } from 'ws';

import type { LegCommand, LegSide, PluginTunnelEvent } from '../../machines/pluginTunnel.types.js';
import type { Logger } from '../logger.js';

/** Send-buffer thresholds of one leg, in bytes of `ws.bufferedAmount`. */
export interface LegWaterMarks {
  highWaterMarkBytes: number;
  lowWaterMarkBytes: number;
}

export interface SocketLegOptions {
  side: LegSide;
  tunnelId: string;
  waterMarks: LegWaterMarks;
  logger: Logger;
  sendBack: (event: PluginTunnelEvent) => void;
}

/** A bound leg: `command` executes what the machine asked, `detach` removes every listener. */
export interface SocketLeg {
  command(command: LegCommand): void;
  detach(): void;
}

export function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/**
 * Binds one WebSocket to its tunnel actor: messages and the close become `<side>.*` facts, and
 * `leg.*` commands become socket calls. It measures its own send buffer and reports crossing the
 * high-water mark (`congested`) and falling back under the low-water mark (`drained`) once each;
 * which side to pause is the machine's decision. The drain check runs in each write's callback,
 * so no timer polls the buffer.
 */
export function bindSocketLeg(ws: WebSocket, options: SocketLegOptions): SocketLeg {
  const { side, tunnelId, waterMarks, logger, sendBack } = options;
  let congested = false;

  const afterWrite = () => {
    if (congested && ws.bufferedAmount <= waterMarks.lowWaterMarkBytes) {
      congested = false;
      sendBack({ type: `${side}.drained` });
    }
  };
  const onMessage = (data: RawData, isBinary: boolean) => {
    sendBack({ type: `${side}.message`, data: toBuffer(data), isBinary });
  };
  const onClose = (code: number, reason: Buffer) => {
    sendBack({ type: `${side}.closed`, code, reason: reason.toString('utf8') });
  };
  const onError = (error: Error) => {
    logger.debug('plugin tunnel: socket error', { tunnelId, side, error: error.message });
  };
  ws.on('message', onMessage);
  ws.on('close', onClose);
  ws.on('error', onError);

  return {
    command(command) {
      switch (command.type) {
        case 'leg.send':
          if (ws.readyState !== WebSocket.OPEN) return;
          ws.send(command.data, { binary: command.isBinary }, afterWrite);
          if (!congested && ws.bufferedAmount > waterMarks.highWaterMarkBytes) {
            congested = true;
            sendBack({ type: `${side}.congested` });
          }
          return;
        case 'leg.close':
          if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
            if (command.code === undefined) ws.close();
            else ws.close(command.code, command.reason);
          }
          return;
        case 'leg.pause':
          ws.pause();
          return;
        case 'leg.resume':
          ws.resume();
          return;
        case 'leg.ping':
          if (ws.readyState === WebSocket.OPEN) ws.ping();
          return;
      }
    },
    detach() {
      ws.off('message', onMessage);
      ws.off('close', onClose);
      // The socket may still emit an error while we cut it; without a listener that would throw.
      ws.off('error', onError);
      ws.on('error', () => {});
    },
  };
}
