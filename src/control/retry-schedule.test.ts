import { afterEach, describe, expect, it, vi } from 'vitest';
import { RetrySchedule } from './retry-schedule.js';

describe('RetrySchedule', () => {
  afterEach(() => vi.useRealTimers());

  it('doubles the wait up to the cap, and the timer calls back for the deployment', () => {
    vi.useFakeTimers();
    const calls: string[] = [];
    const r = new RetrySchedule({ initialMs: 1000, maxMs: 5000 }, (id) => calls.push(id));
    expect(r.schedule('a', 1)).toBe('retry 1 in 1s (or now: berth restart a)');
    expect(r.schedule('a', 1)).toMatch(/^retry 2 in 2s/);
    expect(r.schedule('a', 1)).toMatch(/^retry 3 in 4s/);
    expect(r.schedule('a', 1)).toMatch(/^retry 4 in 5s/);
    expect(r.schedule('a', 1)).toMatch(/^retry 5 in 5s/);
    vi.advanceTimersByTime(4999);
    expect(calls).toStrictEqual([]);
    vi.advanceTimersByTime(1);
    expect(calls).toStrictEqual(['a']);
  });

  it('holds back only the generation that failed; clear forgets the backoff', () => {
    vi.useFakeTimers();
    const r = new RetrySchedule({ initialMs: 1000, maxMs: 60_000 }, () => undefined);
    expect(r.waiting('a', 3)).toBe(false);
    r.schedule('a', 3);
    expect(r.waiting('a', 3)).toBe(true);
    expect(r.waiting('a', 4)).toBe(false); // an update or restart is tried at once
    expect(r.hint('a')).toBe('; next retry in 1s');
    vi.advanceTimersByTime(1000);
    expect(r.waiting('a', 3)).toBe(false);
    r.schedule('a', 3);
    r.clear('a');
    expect(r.waiting('a', 3)).toBe(false);
    expect(r.hint('a')).toBe('');
    expect(r.schedule('a', 3)).toMatch(/^retry 1 in 1s/);
  });
});
