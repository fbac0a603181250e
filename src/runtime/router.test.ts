import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryLogStore } from '../telemetry/memory-logs.js';
import { ContainerRuntime } from './container/index.js';
import { RuntimeRouter, type LazyDriver } from './router.js';
import { ownerLabels, type Workload, type WorkloadState } from './types.js';

/** A driver that records what it was asked (a stand-in for a real driver: the router only forwards). */
function recorder(name: string): LazyDriver & { calls: string[] } {
  const calls: string[] = [];
  const state = (w: Workload): WorkloadState & { address: { kind: 'http'; url: string; headers: Record<string, string> } } => ({ deploymentId: w.deploymentId, revision: w.revision, labels: w.labels, phase: 'running', pids: [], lastExit: null, address: { kind: 'http', url: `http://${name}/mcp`, headers: {} }, owned: true });
  return {
    name,
    calls,
    admit: (p) => void calls.push(`admit ${p.runtime ?? '-'}`),
    isolation: () => ({ sandbox: { kind: 'none', network: 'egress', network_enforced: false, mounts: [], warning: null }, limits: { memory_mb: 1, pids: 1, cpus: 1, enforced_by: 'none', unenforced: [] } }),
    notices: () => [`${name} notice`],
    ensure: async (w) => (calls.push(`ensure ${w.deploymentId}`), state(w)),
    observe: async (id) => (calls.push(`observe ${id}`), null),
    list: async () => (calls.push('list'), []),
    stop: async (id) => void calls.push(`stop ${id}`),
    remove: async (id) => void calls.push(`remove ${id}`),
    logs: async () => [],
    stats: async (id) => (calls.push(`stats ${id}`), [{ deploymentId: id, revision: name === 'container' ? 2 : 1, memoryBytes: 1, cpuSeconds: 0, processes: 1 }]),
    reapOrphans: async () => (calls.push('reap'), []),
    stopAll: async () => void calls.push('stopAll'),
  };
}

const wl = (id: string, extra: Partial<Workload> = {}): Workload => ({ deploymentId: id, revision: 1, labels: ownerLabels(id, 1), launch: { command: 'x', args: [], env: {} }, ...extra });

describe('RuntimeRouter', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('sends ensure to the driver the workload names, makes the container driver only when needed, and asks every driver it made', async () => {
    const proc = recorder('process');
    const cont = recorder('container');
    let made = 0;
    const router = new RuntimeRouter({ process: proc, container: () => (made++, cont), defaultRuntime: 'process' });
    await router.ensure(wl('a'));
    await router.stop('a');
    expect(made).toBe(0);
    expect(router.notices()).toEqual(['process notice']);
    expect((await router.ensure(wl('b', { runtime: 'container' }))).address).toMatchObject({ url: 'http://container/mcp' });
    await router.ensure(wl('c', { launch: { command: '', args: [], env: {}, image: { ref: 'img', serves: 'http', port: 1, path: '/' } } }));
    expect(made).toBe(1);
    router.admit({ runtime: 'container' });
    await router.remove('b');
    // Stats from every driver made, newest revision first (a deployment moving between runtimes has one on each).
    expect((await router.stats('b')).map((s) => s.revision)).toEqual([2, 1]);
    await router.stopAll();
    expect(proc.calls).toEqual(['ensure a', 'stop a', 'remove b', 'stats b', 'stopAll']);
    expect(cont.calls).toEqual(['ensure b', 'ensure c', 'admit container', 'remove b', 'stats b', 'stopAll']);
  });

  it('BERTH_DEFAULT_RUNTIME=container sends a workload without runtime to containers', async () => {
    const proc = recorder('process');
    const cont = recorder('container');
    const router = new RuntimeRouter({ process: proc, container: () => cont, defaultRuntime: 'container' });
    await router.ensure(wl('a'));
    await router.ensure(wl('b', { runtime: 'process' }));
    expect(cont.calls).toEqual(['ensure a']);
    expect(proc.calls).toEqual(['ensure b']);
  });

  it('fails a container workload with ENGINE_UNAVAILABLE naming the socket when no engine answers (a real driver on a missing socket)', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-router-'));
    dirs.push(dataDir);
    const socketPath = path.join(dataDir, 'no-engine.sock');
    const container = new ContainerRuntime({ socketPath, dataDir, logs: new MemoryLogStore(), owner: 'x', network: 'n', bridgeFile: '/nowhere', defaultImage: 'img', limits: { defaults: { memoryMb: 64, pids: 64, cpus: 1 }, max: { memoryMb: 64, pids: 64, cpus: 1 } }, mountRoots: [] });
    const router = new RuntimeRouter({ process: recorder('process'), container: () => container, defaultRuntime: 'process' });
    await expect(router.ready('container')).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringContaining(socketPath) });
    await expect(router.ensure(wl('a', { runtime: 'container' }))).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    await expect(router.ready('process')).resolves.toBeUndefined();
    expect(await router.list()).toEqual([]);
  });
});
