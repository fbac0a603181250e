import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeploymentView } from '../../src/core/index.js';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { connectV2, textOf } from '../support/clients.js';
import { freePort } from '../support/ports.js';
import { alive, nodeProcessesWith } from '../support/procs.js';
import { echoSpec } from '../support/servers.js';

const dataDir = mkdtempSync(join(tmpdir(), 'berth-restart-'));
let berth: BerthProcess | undefined;

afterAll(async () => {
  await berth?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Calls the server, then returns the host pid of its one process (found by marker; the sandbox hides host pids from it). */
async function serverPid(endpoint: string, marker: string): Promise<number> {
  const c = await connectV2(endpoint);
  try {
    expect(textOf(await c.call('echo', { text: 'ping' }))).toBe('ping');
  } finally {
    await c.close();
  }
  const pids = nodeProcessesWith(marker);
  expect(pids).toHaveLength(1);
  return pids[0]!;
}

async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

describe('Berth restarts', () => {
  it('brings deployments back after a crash and after a clean stop, with no duplicates and data intact', async () => {
    const port = await freePort();
    const marker = `--berth-test-marker=${randomUUID()}`;
    const stoppedMarker = `--berth-test-marker=${randomUUID()}`;
    berth = await startBerth({ dataDir, port });
    let api = new TestApi(berth.url, berth.token);
    const d = await api.deploy(echoSpec('survivor', [marker], { description: 'keeps its data', tags: ['e2e'] }));
    const stopped = await api.deploy(echoSpec('stays-stopped', [stoppedMarker], { start: false }));
    await api.waitFor(d.id);
    const pid1 = await serverPid(d.endpoint, marker);
    const before = (await api.call<DeploymentView>('GET', `/api/deployments/${d.id}`)).body;

    // 1. Berth crashes (SIGKILL): its children may outlive it; the next start must not run a second copy.
    await berth.kill();
    berth = await startBerth({ dataDir, port });
    api = new TestApi(berth.url, berth.token);
    await api.waitFor(d.id);
    const pid2 = await serverPid(d.endpoint, marker);
    expect(pid2).not.toBe(pid1);
    expect(await until(() => !alive(pid1))).toBe(true);
    expect(nodeProcessesWith(marker)).toEqual([pid2]);
    const after = (await api.call<DeploymentView>('GET', `/api/deployments/${d.id}`)).body;
    expect(after.name).toBe('survivor');
    expect(after.description).toBe('keeps its data');
    expect(after.tags).toEqual(['e2e']);
    expect(after.spec).toEqual(before.spec);
    expect(after.created_at).toBe(before.created_at);
    expect(after.request_count).toBeGreaterThanOrEqual(before.request_count);
    expect((await api.status(stopped.id)).status).toBe('stopped');
    expect(nodeProcessesWith(stoppedMarker)).toEqual([]);

    // 2. A clean stop ends the servers; the next start brings back exactly one.
    expect(await berth.stop()).toBe(0);
    expect(await until(() => nodeProcessesWith(marker).length === 0)).toBe(true);
    berth = await startBerth({ dataDir, port });
    api = new TestApi(berth.url, berth.token);
    await api.waitFor(d.id);
    const pid3 = await serverPid(d.endpoint, marker);
    expect(nodeProcessesWith(marker)).toEqual([pid3]);
    const list = await api.call<{ items: DeploymentView[] }>('GET', '/api/deployments');
    expect(list.body.items.map((x) => x.id).sort()).toEqual([d.id, stopped.id].sort());
  });
});
