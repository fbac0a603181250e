import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Lease } from './types.js';

export interface LeaseFixture {
  /** A new contender for the same store's lease (each is its own connection / lock file user). */
  make(): Lease;
  /** Takes a held lease away the way it is lost in production (its connection killed, its lock file taken). */
  lose(lease: Lease): Promise<void>;
  cleanup(): Promise<void>;
}

/** What every Lease driver must do; `setup` gives a fresh store for each test. */
export function runLeaseContract(name: string, setup: () => Promise<LeaseFixture>): void {
  describe(`Lease contract: ${name}`, () => {
    let fx: LeaseFixture;
    const made: Lease[] = [];
    const make = (): Lease => {
      const l = fx.make();
      made.push(l);
      return l;
    };

    beforeEach(async () => {
      fx = await setup();
    });
    afterEach(async () => {
      await Promise.all(made.splice(0).map((l) => l.release()));
      await fx.cleanup();
    });

    it('is taken by the first contender, who is then named as the holder', async () => {
      const a = make();
      expect(a.held).toBe(false);
      expect(await a.holder()).toBeNull();
      expect(await a.acquire()).toBe(true);
      expect(a.held).toBe(true);
      const h = await a.holder();
      expect(h).toMatchObject({ pid: process.pid });
      expect(typeof h?.host).toBe('string');
      expect(Number.isNaN(Date.parse(h?.started_at ?? ''))).toBe(false);
    });

    it('is refused to a second contender without waiting, and the second one can name the holder', async () => {
      const a = make();
      const b = make();
      expect(await a.acquire()).toBe(true);
      expect(await b.acquire()).toBe(false);
      expect(b.held).toBe(false);
      expect(await b.holder()).toEqual(await a.holder());
      expect(await a.acquire()).toBe(true); // a holder asking again keeps it
      expect(await b.acquire()).toBe(false);
    });

    it('goes to exactly one of many contenders trying at once', async () => {
      const all = Array.from({ length: 6 }, () => make());
      const got = await Promise.all(all.map((l) => l.acquire()));
      expect(got.filter(Boolean)).toHaveLength(1);
      expect(all.filter((l) => l.held)).toHaveLength(1);
    });

    it('can be taken by another once released; releasing twice, or without holding, changes nothing', async () => {
      const a = make();
      const b = make();
      expect(await a.acquire()).toBe(true);
      await b.release(); // not held: must not free a's lease
      expect(await b.acquire()).toBe(false);
      await a.release();
      expect(a.held).toBe(false);
      await a.release();
      expect(await b.acquire()).toBe(true);
      expect(await a.acquire()).toBe(false);
      await b.release();
      expect(await a.acquire()).toBe(true); // and back again
    });

    it('tells its holder once when lost, and then another contender can take it', async () => {
      const a = make();
      const b = make();
      expect(await a.acquire()).toBe(true);
      const reasons: string[] = [];
      const lost = new Promise<string>((resolve) => a.onLost((r) => (reasons.push(r), resolve(r))));
      await fx.lose(a);
      expect(await lost).toMatch(/\S/);
      expect(a.held).toBe(false);
      expect(await b.acquire()).toBe(true);
      expect(await a.acquire()).toBe(false);
      expect(reasons).toHaveLength(1);
    });

    it('does not tell a listener that unsubscribed, nor a lease released on purpose', async () => {
      const a = make();
      expect(await a.acquire()).toBe(true);
      const heard: string[] = [];
      const off = a.onLost((r) => heard.push(r));
      await a.release();
      expect(await a.acquire()).toBe(true);
      off();
      const b = make();
      const still = new Promise<void>((resolve) => a.onLost(() => resolve()));
      await fx.lose(a);
      await still;
      expect(heard).toEqual([]);
      expect(await b.acquire()).toBe(true);
    });
  });
}
