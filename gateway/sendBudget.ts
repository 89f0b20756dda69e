/**
 * One gateway-wide bound on bytes queued to sockets (`maxTotalSocketBufferBytes`). Each socket
 * is already cut at `maxSocketBufferBytes`, but many sockets that stop reading each stay under
 * that cap while together they hold gigabytes. So before a route queues a frame it asks the
 * budget; a frame that would take the total over the bound is not queued, and the route answers
 * as PROTOCOL.md says (`/shell` cuts the asking socket, `/ws` lets the subscriber lag).
 *
 * What a socket holds is its `bufferedAmount` (it shrinks as the kernel takes the data, with no
 * event to say so). The budget remembers the amount it last saw per socket and keeps their sum:
 * a socket's own figure is refreshed whenever it asks, and the others' can only be stale on the
 * high side (they drained since), so a refusal first recounts every socket exactly. Asking is
 * O(1); only a refusal costs a pass over the sockets.
 *
 * One budget per gateway, created in createWebSocketServer and handed to the `/ws` and `/shell`
 * routes.
 */
import type { WebSocket } from 'ws';

import type { Logger } from './logger.js';

export interface SendBudget {
  readonly limitBytes: number;
  /**
   * Counts `ws` from now on, until it closes, and makes the budget findable from it.
   * `listenForClose: false`: the caller has a close listener of its own and calls `forget` from
   * it (one listener less per socket).
   */
  track(ws: WebSocket, listenForClose?: boolean): void;
  /**
   * True when `bytes` more for `ws` keep the total within the bound; they are then counted as
   * queued (send them now). False: nothing is counted, do not send.
   */
  admit(ws: WebSocket, bytes: number): boolean;
  /** Stops counting `ws` (closed, or cut: its buffer is gone). */
  forget(ws: WebSocket): void;
  /** Bytes queued to every counted socket right now (an exact recount). */
  queuedBytes(): number;
}

/** Which budget counts a socket, for the one close listener all sockets share. */
const budgets = new WeakMap<WebSocket, SendBudget>();

/** A module-level listener: a closure per socket would cost memory for every open socket. */
function forgetOnClose(this: WebSocket): void {
  budgets.get(this)?.forget(this);
}

/**
 * Whether a frame that cannot wait to be sent (an answer, a screen restore, PTY output) may be
 * queued to `ws` now. A socket over its own cap (`maxSocketBytes`: it stopped reading while it
 * keeps asking), or one whose frame would take the bytes queued to all sockets over the budget,
 * is cut instead: terminated, no longer counted. Frames that can lag and be caught up from the
 * log later (/ws fan-out) ask `budget.admit` alone.
 */
export function admitOrCut(budget: SendBudget, ws: WebSocket, bytes: number, maxSocketBytes: number, logger: Logger, route: string): boolean {
  if (ws.bufferedAmount > maxSocketBytes) {
    logger.warn(`Cutting a ${route} socket that stopped reading`, { bufferedBytes: ws.bufferedAmount });
    ws.terminate();
    return false;
  }
  if (!budget.admit(ws, bytes)) {
    logger.warn(`Cutting a ${route} socket: the bytes queued to all sockets are at maxTotalSocketBufferBytes`, {
      bufferedBytes: ws.bufferedAmount,
      frameBytes: bytes,
    });
    budget.forget(ws);
    ws.terminate();
    return false;
  }
  return true;
}

/** Bytes a text or binary frame adds to a socket's buffer (the frame header aside). */
export function frameBytes(data: string | Buffer): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.length;
}

export function createSendBudget(limitBytes: number): SendBudget {
  /** Per socket: the bytes the budget counts for it (last seen `bufferedAmount` plus admitted since). */
  const counted = new Map<WebSocket, number>();
  let total = 0;

  const recount = () => {
    total = 0;
    for (const [ws] of counted) {
      const now = ws.bufferedAmount;
      counted.set(ws, now);
      total += now;
    }
  };

  const budget: SendBudget = {
    limitBytes,
    track(ws, listenForClose = true) {
      if (counted.has(ws)) return;
      counted.set(ws, ws.bufferedAmount);
      total += ws.bufferedAmount;
      if (!listenForClose) return;
      budgets.set(ws, budget);
      // `on`, not `once`: a socket closes once, and `once` wraps the listener in two objects per socket.
      ws.on('close', forgetOnClose);
    },
    admit(ws, bytes) {
      budget.track(ws);
      const now = ws.bufferedAmount;
      total += now - counted.get(ws)!;
      counted.set(ws, now);
      if (total + bytes > limitBytes) {
        recount();
        if (total + bytes > limitBytes) return false;
      }
      counted.set(ws, counted.get(ws)! + bytes);
      total += bytes;
      return true;
    },
    forget(ws) {
      const held = counted.get(ws);
      if (held === undefined) return;
      counted.delete(ws);
      total -= held;
      ws.off('close', forgetOnClose);
    },
    queuedBytes() {
      recount();
      return total;
    },
  };
  return budget;
}
