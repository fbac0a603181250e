import { describe, expect, it } from 'vitest';
import { LogThrottle, andMore } from './throttle.js';

describe('LogThrottle', () => {
  it('says a thing once per window and key, then how many times it was kept quiet', () => {
    let t = 0;
    const th = new LogThrottle(1000, 10, () => t);
    expect(th.hit('a')).toBe(0);
    expect(th.hit('a')).toBeNull();
    expect(th.hit('a')).toBeNull();
    expect(th.hit('b')).toBe(0);
    t = 1000;
    expect(th.hit('a')).toBe(2);
    expect(th.hit('a')).toBeNull();
    expect(andMore(2)).toBe(' (and 2 more like it since the last such line)');
    expect(andMore(0)).toBe('');
  });

  it('keeps at most maxKeys keys', () => {
    let t = 0;
    const th = new LogThrottle(1000, 3, () => t);
    for (let i = 0; i < 100; i++) th.hit(`k${i}`);
    t = 10;
    // The newest keys are still being throttled, the oldest were forgotten (they speak again at once).
    expect(th.hit('k99')).toBeNull();
    expect(th.hit('k0')).toBe(0);
  });
});
