/**
 * A token bucket per socket: `burst` frames at once, refilled at `perSecond`. Time comes from
 * an injectable monotonic clock so tests need not sleep.
 */
export interface RateLimiter {
  /** Takes one token; false when the bucket is empty (the frame is over the limit). */
  take(): boolean;
}

export function createRateLimiter(
  perSecond: number,
  burst: number,
  nowMs: () => number = () => performance.now(),
): RateLimiter {
  if (perSecond <= 0) return { take: () => true };
  let tokens = burst;
  let last = nowMs();
  return {
    take() {
      const current = nowMs();
      tokens = Math.min(burst, tokens + ((current - last) * perSecond) / 1000);
      last = current;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
