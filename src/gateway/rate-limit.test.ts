import { describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { retryAfterHeader } from '../core/http.js';
import { RateLimiter } from './rate-limit.js';

/** A clock the test moves by hand (ms). */
function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('RateLimiter (token bucket per key)', () => {
  it('lets a burst through at once, then one request per 1/rate seconds', () => {
    const c = clock();
    const rl = new RateLimiter({ perSecond: 10, burst: 5 }, 100, c.now);
    for (let i = 0; i < 5; i++) expect(rl.take('a')).toBe(0);
    expect(rl.take('a')).toBeCloseTo(0.1, 5);
    c.advance(50);
    expect(rl.take('a')).toBeCloseTo(0.05, 5);
    c.advance(50);
    expect(rl.take('a')).toBe(0);
    expect(rl.take('a')).toBeGreaterThan(0);
  });

  it('keeps keys apart', () => {
    const c = clock();
    const rl = new RateLimiter({ perSecond: 1, burst: 1 }, 100, c.now);
    expect(rl.take('a')).toBe(0);
    expect(rl.take('a')).toBeGreaterThan(0);
    expect(rl.take('b')).toBe(0);
  });

  it('refills only up to the burst, however long a key was quiet', () => {
    const c = clock();
    const rl = new RateLimiter({ perSecond: 100, burst: 3 }, 100, c.now);
    expect(rl.take('a')).toBe(0);
    c.advance(3_600_000);
    let allowed = 0;
    while (rl.take('a') === 0) allowed++;
    expect(allowed).toBe(3);
  });

  it('sustains its rate and no more, with many requests', () => {
    const c = clock();
    const rl = new RateLimiter({ perSecond: 1000, burst: 100 }, 100, c.now);
    let allowed = 0;
    // 10 s of a client asking every 0.1 ms (10x the rate).
    for (let i = 0; i < 100_000; i++) {
      if (rl.take('runaway') === 0) allowed++;
      c.advance(0.1);
    }
    expect(allowed).toBeGreaterThanOrEqual(10_000);
    expect(allowed).toBeLessThanOrEqual(10_000 + 100 + 1);
  });

  it('check() throws RATE_LIMITED with a Retry-After of whole seconds (at least 1)', () => {
    const c = clock();
    const rl = new RateLimiter({ perSecond: 0.25, burst: 1 }, 100, c.now);
    rl.check('t', 'token t');
    let err: unknown;
    try {
      rl.check('t', 'token t');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    const e = err as BerthError;
    expect(e.code).toBe('RATE_LIMITED');
    expect(e.status).toBe(429);
    expect(e.message).toContain('token t');
    expect(retryAfterHeader(e)).toEqual({ 'retry-after': '4' });
  });

  it('a rate of 0 turns the limit off', () => {
    const rl = new RateLimiter({ perSecond: 0, burst: 1 });
    expect(rl.enabled).toBe(false);
    for (let i = 0; i < 1000; i++) expect(rl.take('x')).toBe(0);
    expect(rl.size).toBe(0);
  });

  it('keeps at most maxKeys buckets: full ones are forgotten first, then the oldest', () => {
    const c = clock();
    const rl = new RateLimiter({ perSecond: 1, burst: 2 }, 3, c.now);
    rl.take('busy');
    rl.take('busy'); // empty bucket
    rl.take('k1');
    rl.take('k2');
    c.advance(1_500); // k1 and k2 are full again; busy has 1.5
    rl.take('k3');
    expect(rl.size).toBeLessThanOrEqual(3);
    // busy was not forgotten: it has 1.5 tokens, not a fresh 2.
    expect(rl.take('busy')).toBe(0);
    expect(rl.take('busy')).toBeGreaterThan(0);
    for (let i = 0; i < 100; i++) rl.take(`flood-${i}`);
    expect(rl.size).toBeLessThanOrEqual(3);
  });

  it('refuses a bad configuration', () => {
    expect(() => new RateLimiter({ perSecond: -1, burst: 1 })).toThrow(/rate/);
    expect(() => new RateLimiter({ perSecond: 1, burst: 0 })).toThrow(/burst/);
  });
});
