import { describe, expect, it } from 'vitest';
import { MemoryAuditStore } from '../store/memory-tokens.js';
import { AuditLog } from './audit.js';

const who = { id: 'tok_a', name: 'ci' };

describe('AuditLog', () => {
  it('records mutations with who, what, target, when, source and result', async () => {
    const store = new MemoryAuditStore();
    const log = new AuditLog({ store, now: () => Date.parse('2026-12-07T00:00:00.000Z') });
    log.record({ principal: who, action: 'deployment.create', target: 'x-1', source: '10.0.0.1', result: 'ok', detail: { name: 'x' } });
    await log.flush();
    expect(await store.queryAudit({})).toStrictEqual([
      { seq: 1, at: '2026-12-07T00:00:00.000Z', actor: 'tok_a', actor_name: 'ci', action: 'deployment.create', target: 'x-1', source: '10.0.0.1', result: 'ok', code: null, detail: { name: 'x' } },
    ]);
  });

  it('writes refusals within a per-address budget and says how many it left out', async () => {
    const store = new MemoryAuditStore();
    let now = 0;
    const log = new AuditLog({ store, now: () => now, deniedBurst: 5, deniedPerSecond: 1 });
    for (let i = 0; i < 1000; i++) log.denied({ principal: { id: 'anonymous', name: 'anonymous' }, action: 'auth.denied', target: 'x', source: '10.0.0.9', code: 'UNAUTHORIZED' });
    log.denied({ principal: { id: 'anonymous', name: 'anonymous' }, action: 'auth.denied', target: 'x', source: '10.0.0.8', code: 'UNAUTHORIZED' });
    now += 2_000;
    log.denied({ principal: { id: 'anonymous', name: 'anonymous' }, action: 'auth.denied', target: 'x', source: '10.0.0.9', code: 'UNAUTHORIZED' });
    await log.flush();
    const rows = await store.queryAudit({});
    expect(rows.filter((r) => r.source === '10.0.0.9' && r.action === 'auth.denied')).toHaveLength(6);
    expect(rows.filter((r) => r.source === '10.0.0.8')).toHaveLength(1);
    const summary = rows.filter((r) => r.action === 'auth.denied.suppressed');
    expect(summary.map((r) => r.detail)).toStrictEqual([{ count: 995 }]);
    expect(summary[0]).toMatchObject({ source: '10.0.0.9', result: 'denied' });
  });
});

describe('AuditLog bounds', () => {
  it('holds at most maxPending writes while the store hangs, and says how many it dropped', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const store = new MemoryAuditStore();
    const slow = { appendAudit: async (e: Parameters<MemoryAuditStore['appendAudit']>[0]) => gate.then(() => store.appendAudit(e)), queryAudit: store.queryAudit.bind(store) };
    const logged: Record<string, unknown>[] = [];
    const log = new AuditLog({ store: slow, maxPending: 10, log: (_m, f) => void logged.push(f ?? {}) });
    for (let i = 0; i < 25; i++) log.record({ principal: who, action: 'deployment.stop', target: `x-${i}`, result: 'ok' });
    release();
    await log.flush();
    expect(await store.queryAudit({})).toHaveLength(10);
    expect(logged[0]).toMatchObject({ dropped: 1 });
  });
});
