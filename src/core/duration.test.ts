import { describe, expect, it } from 'vitest';
import { durationMs } from './duration.js';

describe('durationMs', () => {
  it('reads whole numbers in the units the caller takes, and nothing else', () => {
    expect(durationMs('30s', ['s', 'm'])).toBe(30_000);
    expect(durationMs('7d', ['d'])).toBe(7 * 86_400_000);
    expect(durationMs('2w', ['w', 'y'])).toBe(14 * 86_400_000);
    expect(durationMs('0m', ['m'])).toBe(0);
    for (const bad of ['30s', '1.5h', '30 d', ' 30d', '1234567d', 'd', '30dd', '-1d']) expect(durationMs(bad, ['d', 'h']), bad).toBeNull();
  });
});
