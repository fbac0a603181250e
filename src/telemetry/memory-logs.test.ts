import { describe, expect, it } from 'vitest';
import { MemoryLogStore } from './memory-logs.js';

describe('MemoryLogStore', () => {
  it('appends, tails, follows, caps and removes', async () => {
    const s = new MemoryLogStore({ capacity: 3 });
    const seen: number[] = [];
    const stop = s.follow('d', (e) => seen.push(e.seq));
    for (let i = 1; i <= 5; i++) s.append('d', 'stderr', `l${i}`);
    stop();
    s.append('d', 'system', 'l6');
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect((await s.read('d')).map((e) => e.line)).toEqual(['l4', 'l5', 'l6']);
    expect((await s.read('d', { tail: 1 }))[0]).toMatchObject({ seq: 6, stream: 'system' });
    await s.remove('d');
    expect(await s.read('d')).toEqual([]);
    expect(() => new MemoryLogStore({ capacity: 0 })).toThrow(/capacity/);
  });
});
