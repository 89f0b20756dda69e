import { WebSocket } from 'ws';

import type { Subscriber } from './fanout.js';

/**
 * Waits for a lagging subscriber's socket buffer to drop under the low-water mark, then calls
 * `onDrained`: checked when its TCP socket says it drained (a replay of a few MiB resumes as soon
 * as the kernel took it), and every `drainPollMs` regardless (a socket that never drains is still
 * polled). On Node's timers, not the gateway's clock: it waits on a real peer's reads.
 */
export interface DrainWait {
  schedule(subscriber: Subscriber): void;
  stop(subscriber: Subscriber): void;
}

export interface DrainWaitOptions {
  lowWaterMarkBytes: number;
  drainPollMs: number;
  onDrained(subscriber: Subscriber): void;
}

export function createDrainWait(options: DrainWaitOptions): DrainWait {
  const stop = (subscriber: Subscriber) => {
    if (subscriber.drainTimer) clearTimeout(subscriber.drainTimer);
    subscriber.drainTimer = null;
    if (subscriber.drainListener) subscriber.transport?.off?.('drain', subscriber.drainListener);
    subscriber.drainListener = null;
  };
  const schedule = (subscriber: Subscriber) => {
    if (subscriber.drainTimer) return;
    const check = () => {
      stop(subscriber);
      if (subscriber.ws.readyState !== WebSocket.OPEN) return;
      if (subscriber.ws.bufferedAmount > options.lowWaterMarkBytes) return schedule(subscriber);
      options.onDrained(subscriber);
    };
    subscriber.drainTimer = setTimeout(check, options.drainPollMs);
    if (subscriber.transport?.once) {
      subscriber.drainListener = check;
      subscriber.transport.once('drain', check);
    }
  };
  return { schedule, stop };
}
