/**
 * The contract every workload runtime driver passes (ADR 0017): ensure is idempotent, observe and list
 * go by owner labels, remove cleans up processes, work folder and logs, a crash is observed as such, and
 * the address reaches a real MCP server (a real SDK client calls a tool through it).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBridgeServer } from '../bridge.js';
import { MemoryLogStore } from '../telemetry/memory-logs.js';
import { pidAlive } from './runtime.contract.js';
import { LABEL_DEPLOYMENT, ownerLabels, type Workload, type WorkloadAddress, type WorkloadRuntime, type WorkloadState } from './types.js';

export interface WorkloadContractContext {
  /** A fresh data dir per test. */
  dataDir: string;
  logs: MemoryLogStore;
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EVERYTHING = path.join(REPO_ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

/** server-everything over stdio, as revision `revision` of `id`. */
export function everythingWorkload(id: string, revision = 1, env: Record<string, string> = {}): Workload {
  return everythingOf(id, revision, env);
}

function everythingOf(id: string, revision: number, env: Record<string, string>): Workload {
  return { deploymentId: id, revision, labels: ownerLabels(id, revision), launch: { command: process.execPath, args: [EVERYTHING, 'stdio'], env, cwd: REPO_ROOT } };
}

function programOf(id: string, program: string): Workload {
  return { deploymentId: id, revision: 1, labels: ownerLabels(id, 1), launch: { command: process.execPath, args: ['-e', program], env: {} } };
}

/** An MCP URL (and headers) for an address: http as it is; stdio through the bridge over its spawn (as Berth does). */
async function reach(address: WorkloadAddress): Promise<{ url: string; headers: Record<string, string>; close(): Promise<void> }> {
  if (address.kind === 'http') return { url: address.url, headers: address.headers, close: async () => {} };
  const server = await startBridgeServer({ command: 'workload', args: [], env: {}, port: 0, spawn: address.spawn });
  return { url: `${server.url}/mcp`, headers: {}, close: () => server.close() };
}

/** Polls `observe` until `ok` holds (a crash is noticed when the process is reaped, not at once). */
async function observeUntil(rt: WorkloadRuntime, id: string, ok: (s: WorkloadState | null) => boolean): Promise<WorkloadState | null> {
  const deadline = Date.now() + 30_000;
  let s = await rt.observe(id);
  while (!ok(s) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    s = await rt.observe(id);
  }
  return s;
}

/** What a driver may adapt, and only that: how the suite's workloads are run there, and what a restarted Berth does. */
export interface WorkloadContractOptions {
  /** Turns each of the suite's workloads into one this driver runs (e.g. the same command in an image, with the test server mounted). */
  adapt?: (w: Workload) => Workload;
  /**
   * True for a driver whose workloads outlive Berth (containers): a restarted Berth adopts a running workload
   * (`list` shows it as its own with an address, `ensure` of the same revision returns it, `reapOrphans` keeps it)
   * instead of reaping it.
   */
  adopts?: boolean;
}

export function runWorkloadContract(name: string, makeRuntime: (ctx: WorkloadContractContext) => WorkloadRuntime, options: WorkloadContractOptions = {}): void {
  const adapt = options.adapt ?? ((w: Workload) => w);
  const everythingWorkload = (id: string, revision = 1, env: Record<string, string> = {}): Workload => adapt(everythingOf(id, revision, env));
  const programWorkload = (id: string, program: string): Workload => adapt(programOf(id, program));
  describe(`Workload runtime contract: ${name}`, () => {
    let ctx: WorkloadContractContext;
    let rt: WorkloadRuntime;
    const closers: (() => Promise<void>)[] = [];

    beforeEach(() => {
      ctx = { dataDir: mkdtempSync(path.join(os.tmpdir(), 'berth-wl-')), logs: new MemoryLogStore() };
      rt = makeRuntime(ctx);
    });
    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close().catch(() => {});
      await rt.stopAll(500);
      rmSync(ctx.dataDir, { recursive: true, force: true });
    });

    /** Connects a real SDK client (1.x) through the workload's address. */
    const connect = async (address: WorkloadAddress): Promise<Client> => {
      const r = await reach(address);
      closers.push(r.close);
      const client = new Client({ name: 'workload-contract', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(r.url), { requestInit: { headers: r.headers } }));
      closers.push(() => client.close());
      return client;
    };

    it('reaches the server through its address: a real SDK client calls a tool', async () => {
      const s = await rt.ensure(everythingWorkload('wl-reach'));
      const client = await connect(s.address);
      const r = (await client.callTool({ name: 'echo', arguments: { message: 'through the workload' } })) as { content: { text: string }[] };
      expect(r.content[0]!.text).toContain('through the workload');
      const seen = await rt.observe('wl-reach');
      expect(seen).toMatchObject({ deploymentId: 'wl-reach', revision: 1, phase: 'running', owned: true });
      expect(seen!.pids.length).toBeGreaterThan(0);
      expect(seen!.pids.every(pidAlive)).toBe(true);
    });

    it('stats: a running workload reports its resident memory, CPU time and processes; one stopped reports nothing', async () => {
      expect(await rt.stats('wl-stats')).toEqual([]);
      const s = await rt.ensure(everythingWorkload('wl-stats'));
      const client = await connect(s.address);
      await client.callTool({ name: 'echo', arguments: { message: 'measure me' } });
      const [now, ...more] = await rt.stats('wl-stats');
      expect(more).toEqual([]);
      expect(now).toMatchObject({ deploymentId: 'wl-stats', revision: 1 });
      // A Node MCP server alone holds well over 10 MiB and has used some CPU to start.
      expect(now!.memoryBytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(now!.memoryBytes).toBeLessThan(4 * 1024 * 1024 * 1024);
      expect(now!.cpuSeconds).toBeGreaterThan(0);
      expect(now!.processes).toBeGreaterThanOrEqual(1);
      await rt.stop('wl-stats');
      expect(await rt.stats('wl-stats')).toEqual([]);
    });

    it('ensure is idempotent: the same workload twice is one workload with one address', async () => {
      const w = everythingWorkload('wl-idem');
      const [a, b] = await Promise.all([rt.ensure(w), rt.ensure(w)]);
      const c = await rt.ensure(w);
      for (const s of [b, c]) {
        expect(s.address.kind).toBe(a.address.kind);
        if (a.address.kind === 'http' && s.address.kind === 'http') expect(s.address.url).toBe(a.address.url);
        if (a.address.kind === 'stdio' && s.address.kind === 'stdio') expect(s.address.spawn).toBe(a.address.spawn);
        expect(s.pids).toEqual(a.pids);
      }
      expect(await rt.list({ [LABEL_DEPLOYMENT]: 'wl-idem' })).toHaveLength(1);
    });

    it('observe and list go by owner labels', async () => {
      await rt.ensure(everythingWorkload('wl-a'));
      await rt.ensure(everythingWorkload('wl-b', 3));
      const onlyB = await rt.list({ [LABEL_DEPLOYMENT]: 'wl-b' });
      expect(onlyB.map((s) => [s.deploymentId, s.revision, s.labels['berth.revision']])).toEqual([['wl-b', 3, '3']]);
      expect((await rt.list()).map((s) => s.deploymentId).sort()).toEqual(['wl-a', 'wl-b']);
      expect(await rt.list({ [LABEL_DEPLOYMENT]: 'wl-none' })).toEqual([]);
      expect(await rt.observe('wl-none')).toBeNull();
      expect(await rt.observe('wl-b')).toMatchObject({ deploymentId: 'wl-b', revision: 3 });
    });

    it('remove stops its processes and deletes its work folder and logs; keepLogs keeps the logs', async () => {
      const s = await rt.ensure(everythingWorkload('wl-rm'));
      await connect(s.address);
      const pids = (await rt.observe('wl-rm'))!.pids;
      expect(pids.length).toBeGreaterThan(0);
      const folder = path.join(ctx.dataDir, 'work', 'wl-rm');
      expect(existsSync(folder)).toBe(true);
      writeFileSync(path.join(folder, 'left-by-server.txt'), 'x');
      ctx.logs.append('wl-rm', 'system', 'a line of its log');
      await rt.remove('wl-rm');
      expect(await rt.observe('wl-rm')).toBeNull();
      expect(await rt.list({ [LABEL_DEPLOYMENT]: 'wl-rm' })).toEqual([]);
      for (const pid of pids) expect(pidAlive(pid)).toBe(false);
      expect(existsSync(folder)).toBe(false);
      expect(await rt.logs('wl-rm')).toEqual([]);

      await rt.ensure(everythingWorkload('wl-keep'));
      ctx.logs.append('wl-keep', 'system', 'keep me');
      await rt.remove('wl-keep', { keepLogs: true });
      expect((await rt.logs('wl-keep')).map((l) => l.line)).toContain('keep me');
      expect(existsSync(path.join(ctx.dataDir, 'work', 'wl-keep'))).toBe(false);
    });

    it('runs two revisions of one deployment side by side (blue-green) and stops one of them alone', async () => {
      const [one, two] = [await rt.ensure(everythingWorkload('wl-bg', 1)), await rt.ensure(everythingWorkload('wl-bg', 2))];
      const [c1, c2] = [await connect(one.address), await connect(two.address)];
      for (const c of [c1, c2]) expect(((await c.callTool({ name: 'echo', arguments: { message: 'both' } })) as { content: { text: string }[] }).content[0]!.text).toContain('both');
      const both = await rt.list({ [LABEL_DEPLOYMENT]: 'wl-bg' });
      expect(both.map((s) => s.revision).sort()).toEqual([1, 2]);
      const oldPids = both.find((s) => s.revision === 1)!.pids;
      expect(oldPids.length).toBeGreaterThan(0);
      await rt.stop('wl-bg', { revision: 1 });
      for (const pid of oldPids) expect(pidAlive(pid)).toBe(false);
      expect((await rt.list({ [LABEL_DEPLOYMENT]: 'wl-bg' })).map((s) => s.revision)).toEqual([2]);
      expect(await rt.observe('wl-bg')).toMatchObject({ revision: 2, phase: 'running' });
      expect(((await c2.callTool({ name: 'echo', arguments: { message: 'still here' } })) as { content: { text: string }[] }).content[0]!.text).toContain('still here');
    });

    it.skipIf(options.adopts === true)('a restarted Berth lists what the previous one left running, by its labels, and reaps it', async () => {
      const s = await rt.ensure(everythingWorkload('wl-left', 2));
      await connect(s.address);
      const pids = (await rt.observe('wl-left'))!.pids;
      const next = makeRuntime(ctx);
      try {
        const found = await next.list({ [LABEL_DEPLOYMENT]: 'wl-left' });
        expect(found).toMatchObject([{ deploymentId: 'wl-left', revision: 2, owned: false, address: null, phase: 'running' }]);
        expect(found[0]!.pids.sort()).toEqual([...pids].sort());
        expect(await next.observe('wl-left')).toMatchObject({ owned: false, revision: 2 });
        await next.reapOrphans();
        expect(await next.list({ [LABEL_DEPLOYMENT]: 'wl-left' })).toEqual([]);
      } finally {
        await next.stopAll(500);
      }
    });

    it.runIf(options.adopts === true)('a restarted Berth adopts what the previous one left running: found by its labels, ensured without a second copy, still answering', async () => {
      const w = everythingWorkload('wl-left', 2);
      const s = await rt.ensure(w);
      await connect(s.address);
      const pids = (await rt.observe('wl-left'))!.pids;
      expect(pids.length).toBeGreaterThan(0);
      const next = makeRuntime(ctx);
      try {
        const found = await next.list({ [LABEL_DEPLOYMENT]: 'wl-left' });
        expect(found).toMatchObject([{ deploymentId: 'wl-left', revision: 2, phase: 'running' }]);
        expect(found[0]!.pids.sort()).toEqual([...pids].sort());
        expect(found[0]!.address).not.toBeNull();
        await next.reapOrphans();
        expect(await next.list({ [LABEL_DEPLOYMENT]: 'wl-left' })).toHaveLength(1);
        const adopted = await next.ensure(w);
        expect(adopted.pids.sort()).toEqual([...pids].sort());
        expect(await next.list({ [LABEL_DEPLOYMENT]: 'wl-left' })).toHaveLength(1);
        const client = await connect(adopted.address);
        expect(((await client.callTool({ name: 'echo', arguments: { message: 'adopted' } })) as { content: { text: string }[] }).content[0]!.text).toContain('adopted');
        await next.remove('wl-left');
        for (const pid of pids) expect(pidAlive(pid)).toBe(false);
      } finally {
        await next.stopAll(500);
      }
    });

    it('stop ends the workload but keeps its folder and logs', async () => {
      const s = await rt.ensure(everythingWorkload('wl-stop'));
      await connect(s.address);
      const pids = (await rt.observe('wl-stop'))!.pids;
      await rt.stop('wl-stop');
      expect(await rt.observe('wl-stop')).toBeNull();
      for (const pid of pids) expect(pidAlive(pid)).toBe(false);
      expect(existsSync(path.join(ctx.dataDir, 'work', 'wl-stop'))).toBe(true);
    });

    it('a workload whose server crashes is observed as exited, with how it ended', async () => {
      const w = programWorkload('wl-crash', 'process.exit(3)');
      // Where the bridge runs in Berth, the crash happens when the bridge starts the process; elsewhere at ensure.
      const started = await rt.ensure(w).catch(() => null);
      if (started?.address.kind === 'stdio') await (await started.address.spawn('main')).exited;
      const s = await observeUntil(rt, 'wl-crash', (x) => x?.phase === 'exited');
      expect(s).toMatchObject({ phase: 'exited', pids: [] });
      expect(s!.lastExit).not.toBeNull();
      expect(s!.lastExit!.code).not.toBe(0);
    });

    it('refuses a workload whose id could name a folder outside the data dir', async () => {
      await expect(rt.ensure({ ...everythingWorkload('x'), deploymentId: '../x', labels: ownerLabels('../x', 1) })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(rt.remove('..')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });
  });
}
