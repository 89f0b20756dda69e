import type { ChatEventLog } from '../../persistence/types.js';
import type { Subscriber } from './fanout.js';

/**
 * Durable before visible: a subscriber's TCP socket is corked for the rest of the event-loop turn
 * (its frames leave in one write) and released only once the log has written every event
 * appended so far. So a crash (kill -9) can lose only events no client has seen, and the seq of a
 * lost event is never one a client holds. Writes stay batched per turn: the release waits for the
 * turn's one transaction, not for a transaction per event.
 */
export interface DurableCork {
  /** Corks the subscriber's socket until the current turn's synchronous work (and its ticks) is done and written. */
  corkForTurn(subscriber: Subscriber): void;
  /** Calls back once every event appended so far is written (at once if the log cannot say). */
  whenWritten(release: () => void): void;
}

export function createDurableCork(log: ChatEventLog): DurableCork {
  const whenWritten = (release: () => void) => (log.whenWritten ? log.whenWritten(release) : release());
  const uncorkWhenWritten = (subscriber: Subscriber) =>
    whenWritten(() => {
      subscriber.corked = false;
      subscriber.transport?.uncork();
    });
  return {
    whenWritten,
    corkForTurn(subscriber) {
      if (subscriber.corked || !subscriber.transport) return;
      subscriber.corked = true;
      subscriber.transport.cork();
      process.nextTick(uncorkWhenWritten, subscriber);
    },
  };
}
