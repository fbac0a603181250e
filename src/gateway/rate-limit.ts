import { BerthError } from '../core/errors.js';

export interface RateLimit {
  /** Requests per second, sustained; 0 turns the limit off. */
  perSecond: number;
  /** Requests that may come at once above the rate (the bucket's size); at least 1. */
  burst: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, monotonic). */
  at: number;
}

/**
 * Token buckets by key (a token's principal, a deployment id): each request takes one token; a bucket
 * refills at `perSecond` up to `burst`. Keys are bounded: past `maxKeys`, full buckets (which are the
 * same as no bucket) are forgotten first, then the oldest.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    readonly limit: RateLimit,
    private readonly maxKeys = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(limit.perSecond >= 0) || !Number.isFinite(limit.perSecond)) throw new Error(`rate must be a number >= 0, got ${String(limit.perSecond)}`);
    if (!Number.isSafeInteger(limit.burst) || limit.burst < 1) throw new Error(`burst must be a positive integer, got ${String(limit.burst)}`);
  }

  get enabled(): boolean {
    return this.limit.perSecond > 0;
  }

  /** Take one request for `key`: 0 when it may go, else the seconds to wait before one may (for Retry-After). */
  take(key: string): number {
    const { perSecond, burst } = this.limit;
    if (perSecond <= 0) return 0;
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.prune(t);
      b = { tokens: burst, at: t };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) * perSecond) / 1000);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / perSecond;
  }

  /** Like take(), but throws RATE_LIMITED (details.retryAfterS: whole seconds, at least 1) when over the limit. */
  check(key: string, what: string): void {
    const wait = this.take(key);
    if (wait === 0) return;
    const retryAfterS = Math.max(1, Math.ceil(wait));
    throw new BerthError('RATE_LIMITED', `Too many requests: ${what} is over its limit of ${this.limit.perSecond} per second (burst ${this.limit.burst}); retry after ${retryAfterS} s`, { retryAfterS });
  }

  /** Buckets kept right now (for tests and stats). */
  get size(): number {
    return this.buckets.size;
  }

  private prune(t: number): void {
    const { perSecond, burst } = this.limit;
    for (const [k, b] of this.buckets) if (b.tokens + ((t - b.at) * perSecond) / 1000 >= burst) this.buckets.delete(k);
    for (const k of this.buckets.keys()) {
      if (this.buckets.size < this.maxKeys) break;
      this.buckets.delete(k);
    }
  }
}
