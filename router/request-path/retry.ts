// When a failed attempt may go to another endpoint: a per-request cap, and a router-wide budget so that a retry
// storm cannot multiply the load on a fleet that is already failing.

export interface RetryPolicy {
  /** Extra attempts on other endpoints after a failure before the first byte. */
  maxRetries: number;
  /** Retries allowed as a share of requests (a retry storm cannot multiply load). */
  budgetRatio: number;
  /** Retries always allowed per second regardless of the ratio. */
  minPerSecond: number;
}

export const defaultRetry: RetryPolicy = { maxRetries: 2, budgetRatio: 0.2, minPerSecond: 10 };

/** A token bucket: each request adds `budgetRatio` tokens, time adds `minPerSecond` per second, a retry takes one. */
export class RetryBudget {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly p: RetryPolicy) {
    this.tokens = p.minPerSecond;
  }

  onRequest(): void {
    this.tokens = Math.min(this.tokens + this.p.budgetRatio, 1000);
  }

  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.tokens + ((now - this.last) / 1000) * this.p.minPerSecond, 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
