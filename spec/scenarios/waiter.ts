/**
 * Waiting on conditions, never on time: a check is re-run whenever something the scenario
 * watches reports news (`wake()`), and on a short poll for state it cannot observe directly
 * (the session store, the actor system). The bound only turns a hang into a readable failure.
 */

/** Fallback re-check period for conditions nothing wakes us for. */
const POLL_MS = 5;

export class WaitTimeout extends Error {}

export interface Waiter {
  wake(): void;
  until<T>(check: () => T | null | undefined | false, what: string, timeoutMs: number): Promise<T>;
}

export function createWaiter(): Waiter {
  const listeners = new Set<() => void>();
  return {
    wake() {
      for (const listener of [...listeners]) listener();
    },
    until(check, what, timeoutMs) {
      return new Promise((resolve, reject) => {
        let done = false;
        const finish = () => {
          done = true;
          listeners.delete(attempt);
          clearTimeout(deadline);
          clearInterval(poll);
        };
        const attempt = () => {
          if (done) return;
          let value;
          try {
            value = check();
          } catch (error) {
            finish();
            reject(error);
            return;
          }
          if (value !== null && value !== undefined && value !== false) {
            finish();
            resolve(value as never);
          }
        };
        const deadline = setTimeout(() => {
          if (done) return;
          finish();
          reject(new WaitTimeout(`timed out after ${timeoutMs} ms waiting for ${what}`));
        }, timeoutMs);
        const poll = setInterval(attempt, POLL_MS);
        listeners.add(attempt);
        attempt();
      });
    },
  };
}
