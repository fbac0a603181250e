import { describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { MemoryLease, MemoryLeaseBoard } from '../store/lease/memory-lease.js';
import { Leadership } from './leadership.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** A recording stand-in for the reconciler (the real one runs in test/e2e/lease.test.ts): what Leadership told it, in order. */
function recorder() {
  const calls: string[] = [];
  let started: () => void = () => undefined;
  return {
    calls,
    nextStart: () => new Promise<void>((r) => (started = r)),
    reconciler: {
      start: async () => {
        calls.push('start');
        started();
      },
      suspend: async () => {
        calls.push('suspend');
      },
    },
  };
}

describe('Leadership', () => {
  it('makes one of two Berths on a store the leader; the other stands by, names the leader, and takes over when the lease is lost', async () => {
    const board = new MemoryLeaseBoard();
    const leaseA = new MemoryLease(board, { pid: 101, host: 'a.example' });
    const a = recorder();
    const b = recorder();
    const one = new Leadership({ lease: leaseA, reconciler: a.reconciler, retryMs: 5, log: quiet });
    const two = new Leadership({ lease: new MemoryLease(board, { pid: 202, host: 'b.example' }), reconciler: b.reconciler, retryMs: 5, log: quiet });
    try {
      expect(two.standby).toBe(false); // not started: no opinion yet
      expect(await one.start()).toBe('leader');
      expect(await two.start()).toBe('standby');
      expect(two.standby).toBe(true);
      expect(two.leader).toMatchObject({ pid: 101, host: 'a.example' });
      const err = two.standbyError();
      expect(err).toBeInstanceOf(BerthError);
      expect(err.code).toBe('STANDBY');
      expect(err.status).toBe(503);
      expect(err.message).toContain('the Berth at pid 101 on a.example');
      expect(err.message).toContain('send MCP traffic to the leader');

      const takeover = b.nextStart();
      leaseA.revoke('connection dropped');
      await takeover;
      expect(two.role).toBe('leader');
      expect(one.role).toBe('standby');
      // The old leader, now a standby, learns the new leader at its next try.
      while (one.leader === null) await new Promise((res) => setTimeout(res, 5));
      expect(one.leader).toMatchObject({ pid: 202 });
      expect(b.calls).toEqual(['start']);
      expect(a.calls).toEqual(['start', 'suspend']);
    } finally {
      one.close();
      two.close();
    }
  });

  it('stops trying once closed, and gives the lease up on release', async () => {
    const board = new MemoryLeaseBoard();
    const holder = new MemoryLease(board);
    expect(await holder.acquire()).toBe(true);
    const r = recorder();
    const l = new Leadership({ lease: new MemoryLease(board), reconciler: r.reconciler, retryMs: 1, log: quiet });
    expect(await l.start()).toBe('standby');
    l.close();
    await holder.release();
    await new Promise((res) => setTimeout(res, 20));
    expect(l.role).toBe('standby');
    expect(r.calls).toEqual([]);
    expect(board.holder).toBeNull();

    const m = new Leadership({ lease: new MemoryLease(board), reconciler: r.reconciler, retryMs: 1, log: quiet });
    expect(await m.start()).toBe('leader');
    m.close();
    await m.release();
    expect(board.holder).toBeNull();
  });
});
