import { describe, expect, it } from 'vitest';
import { DEFAULT_START_MS, PoolDemand } from './pool-demand.js';

describe('PoolDemand (how many warm processes isolated mode keeps)', () => {
  it('stays at its floor until opens come', () => {
    const d = new PoolDemand({ floor: 2, cap: 16, quietMs: 1000 });
    expect(d.target(0)).toBe(2);
    expect(d.nextDropAt(0)).toBeNull();
  });

  it('wants a burst as large as the opens seen within one start window', () => {
    const d = new PoolDemand({ floor: 1, cap: 16, quietMs: 1000 });
    for (let i = 0; i < 12; i++) d.opened(10_000 + i);
    expect(d.target(10_020)).toBe(12);
  });

  it('counts a steady rate as rate × start window, and forgets opens older than the window', () => {
    const d = new PoolDemand({ floor: 0, cap: 64, quietMs: 60_000 });
    d.started(200); // window 2 × 200 ms = 400 ms (after the moving average, a little more)
    const w = d.windowMs;
    expect(w).toBeGreaterThan(2 * 200);
    expect(w).toBeLessThan(2 * DEFAULT_START_MS);
    // One open every 50 ms: the window holds about w / 50 of them, whatever the run length.
    for (let t = 0; t <= 5000; t += 50) d.opened(t);
    expect(d.target(5000)).toBe(Math.floor(w / 50) + 1);
  });

  it('never wants more than its cap', () => {
    const d = new PoolDemand({ floor: 1, cap: 4, quietMs: 1000 });
    for (let i = 0; i < 40; i++) d.opened(i);
    expect(d.target(40)).toBe(4);
  });

  it('halves the demand above the floor for every quiet period, down to the floor', () => {
    const d = new PoolDemand({ floor: 1, cap: 32, quietMs: 1000 });
    for (let i = 0; i < 17; i++) d.opened(0);
    expect(d.target(999)).toBe(17);
    expect(d.nextDropAt(999)).toBe(1000);
    expect(d.target(1000)).toBe(9);
    expect(d.target(2000)).toBe(5);
    expect(d.target(3000)).toBe(3);
    expect(d.target(4000)).toBe(2);
    expect(d.target(5000)).toBe(1);
    expect(d.nextDropAt(5000)).toBeNull();
  });

  it('starts from the floor again after reset (scaled to zero)', () => {
    const d = new PoolDemand({ floor: 0, cap: 8, quietMs: 1000 });
    for (let i = 0; i < 5; i++) d.opened(0);
    d.reset();
    expect(d.target(1)).toBe(0);
  });

  it('rejects a cap below the floor', () => {
    expect(() => new PoolDemand({ floor: 3, cap: 2, quietMs: 1000 })).toThrow(/cap/);
  });
});
