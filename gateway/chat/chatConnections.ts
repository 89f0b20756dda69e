import { WebSocket } from 'ws';

import { protocolError, type ProtocolErrorCode } from '../../machines/protocolErrors.js';
import type { GatewayLimits } from '../config.js';
import type { Logger } from '../logger.js';
import { admitOrCut, frameBytes, type SendBudget } from '../sendBudget.js';
import type { Subscriber } from './fanout.js';

/**
 * The `/ws` sockets and their subscriber ids: sessions know subscribers by id only, this is the
 * one map back to a socket. Also the one way an answer (an ack, an error, a broadcast) is sent.
 */

export interface ChatConnection extends Subscriber {
  userId: string | number | null;
  /** Every session this socket subscribed to or sent in: the ones it drops from when it closes. */
  joined: Set<string>;
  /** Frames are handled one at a time, in order, even when a handler awaits the session store. */
  queue: Promise<void>;
}

export interface ChatConnections {
  /** Every open `/ws` socket. */
  readonly clients: Set<WebSocket>;
  add(connection: ChatConnection): void;
  remove(connection: ChatConnection): void;
  get(subscriberId: string): ChatConnection | undefined;
  has(subscriberId: string): boolean;
  values(): IterableIterator<ChatConnection>;
  nextId(): string;
  /** Sends an answer, cutting a socket that stopped reading (see `sendAnswer`). */
  send(ws: WebSocket, frame: Record<string, unknown>): void;
  sendJson(ws: WebSocket, json: string): void;
  sendError(ws: WebSocket, code: ProtocolErrorCode, sessionId: string | null, detail?: string): void;
  /** Sends a gateway frame (`session_upserted`, `loading_progress`…) to every `/ws` socket. */
  broadcast(frame: Record<string, unknown>): void;
}

export interface ChatConnectionsOptions {
  limits: GatewayLimits;
  logger: Logger;
  sendBudget: SendBudget;
  now: () => number;
}

export function createChatConnections(options: ChatConnectionsOptions): ChatConnections {
  const { limits, logger, sendBudget, now } = options;
  const clients = new Set<WebSocket>();
  const byId = new Map<string, ChatConnection>();
  let nextConnectionId = 1;

  /**
   * Answers cannot be skipped and caught up later like sequenced frames. A socket that stopped
   * reading but keeps asking is cut at `maxSocketBufferBytes`, and a socket whose answer would take
   * the bytes queued to all sockets over `maxTotalSocketBufferBytes` is cut too (as on /shell),
   * rather than the gateway buffering it.
   */
  const sendJson = (ws: WebSocket, json: string) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (admitOrCut(sendBudget, ws, frameBytes(json), limits.maxSocketBufferBytes, logger, '/ws')) ws.send(json);
  };
  const send = (ws: WebSocket, frame: Record<string, unknown>) => sendJson(ws, JSON.stringify(frame));

  return {
    clients,
    add(connection) {
      byId.set(connection.id, connection);
      clients.add(connection.ws);
    },
    remove(connection) {
      byId.delete(connection.id);
      clients.delete(connection.ws);
    },
    get: (id) => byId.get(id),
    has: (id) => byId.has(id),
    values: () => byId.values(),
    nextId: () => `ws:${nextConnectionId++}`,
    send,
    sendJson,
    sendError(ws, code, sessionId, detail) {
      send(ws, { ...protocolError(code, sessionId, detail), timestamp: new Date(now()).toISOString() });
    },
    broadcast(frame) {
      const json = JSON.stringify(frame);
      for (const ws of clients) sendJson(ws, json);
    },
  };
}
