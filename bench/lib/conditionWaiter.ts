/**
 * Waiting for a condition of a load generator's sockets: re-checked whenever the generator calls
 * `wake()` (an ack, a target reached) and on a 50 ms poll, rejected after a timeout.
 */
export interface ConditionWaiter {
  wake(): void;
  waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void>;
}

/** How often a waited-for condition is re-checked without a wake. */
const POLL_MS = 50;

export function createConditionWaiter(): ConditionWaiter {
  const wakers = new Set<() => void>();
  return {
    wake() {
      for (const waker of [...wakers]) waker();
    },
    waitFor(condition, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!condition()) return;
          cleanup();
          resolve();
        };
        const poll = setInterval(check, POLL_MS);
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        const cleanup = () => {
          clearInterval(poll);
          clearTimeout(timer);
          wakers.delete(check);
        };
        wakers.add(check);
        check();
      });
    },
  };
}
