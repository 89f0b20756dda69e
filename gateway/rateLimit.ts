/**
 * A token bucket per socket: `burst` frames at once, refilled at `perSecond`. Time comes from
 * an injectable monotonic clock so tests need not sleep.
 */
export interface RateLimiter {
  /** Takes one token; false when the bucket is empty (the frame is over the limit). */
  take(): boolean;
}

const monotonicNow = (): number => performance.now();

const UNLIMITED: RateLimiter = { take: () => true };

/** One object per socket with its method on the prototype: closures would cost ~250 B more per socket. */
class TokenBucket implements RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly nowMs: () => number,
  ) {
    this.tokens = burst;
    this.last = nowMs();
  }

  take(): boolean {
    const current = this.nowMs();
    this.tokens = Math.min(this.burst, this.tokens + ((current - this.last) * this.perSecond) / 1000);
    this.last = current;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export function createRateLimiter(perSecond: number, burst: number, nowMs: () => number = monotonicNow): RateLimiter {
  return perSecond <= 0 ? UNLIMITED : new TokenBucket(perSecond, burst, nowMs);
}
