import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeploymentStatusView } from '../../src/api/contract.js';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { connectV1, connectV2, textOf } from '../support/clients.js';
import { freePort } from '../support/ports.js';
import { nodeProcessesWith } from '../support/procs.js';
import { echoSpec } from '../support/servers.js';

const dataDir = mkdtempSync(join(tmpdir(), 'berth-scale-'));
let berth: BerthProcess | undefined;

afterAll(async () => {
  await berth?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function until<T>(get: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await get();
  while (!ok(v)) {
    if (Date.now() > end) throw new Error(`gave up waiting; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
    v = await get();
  }
  return v;
}

describe('scale to zero (spec.scale.min 0)', () => {
  it('stops when idle, answers listing without a process, wakes one process for 20 callers at once, and survives a Berth restart idle', async () => {
    const port = await freePort();
    berth = await startBerth({ dataDir, port });
    let api = new TestApi(berth.url, berth.token);
    const marker = `scale-${randomUUID()}`;
    const d = await api.deploy(echoSpec('sleepy', [marker], {}, { scale: { min: 0, idle_s: 2 } }));
    const status = (): Promise<DeploymentStatusView> => api.status(d.id);
    const running = await api.waitFor(d.id, 'running', 60_000);
    expect(running.scale).toMatchObject({ min: 0, idle_s: 2 });
    expect(nodeProcessesWith(marker)).toHaveLength(1);

    // Idle: the process stops and status says so.
    const idle = await until(status, (s) => s.status === 'idle');
    expect(idle.processes).toBe(0);
    expect(nodeProcessesWith(marker)).toHaveLength(0);

    // Listing is answered from what the revision reported: no process starts.
    for (const connect of [connectV1, connectV2]) {
      const c = await connect(d.endpoint);
      try {
        expect((await c.listToolNames()).sort()).toContain('echo');
      } finally {
        await c.close();
      }
    }
    expect(nodeProcessesWith(marker)).toHaveLength(0);
    expect((await status()).status).toBe('idle');

    // 20 clients call at once: one process starts, all 20 are answered by it.
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? connectV1 : connectV2)(d.endpoint)));
    try {
      const pids = await Promise.all(clients.map(async (c) => textOf(await c.call('whoami'))));
      expect(new Set(pids).size).toBe(1);
      expect(nodeProcessesWith(marker)).toHaveLength(1);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    const woke = await until(status, (s) => s.status === 'running');
    expect(woke.processes).toBe(1);
    expect(woke.scale?.next_idle_stop_at).not.toBeNull();
    await until(status, (s) => s.status === 'idle');

    // A restarted Berth brings it back idle, from the stored snapshot, without starting it.
    await berth.stop();
    berth = await startBerth({ dataDir, port });
    api = new TestApi(berth.url, berth.token);
    const back = await until(status, (s) => s.status === 'idle' || s.status === 'running' || s.status === 'failed');
    expect(back.status).toBe('idle');
    const c = await connectV2(d.endpoint);
    try {
      expect(await c.listToolNames()).toContain('echo');
      expect(nodeProcessesWith(marker)).toHaveLength(0);
      expect(textOf(await c.call('echo', { text: 'awake' }))).toBe('awake');
      expect(nodeProcessesWith(marker)).toHaveLength(1);
    } finally {
      await c.close();
    }
  });
});
