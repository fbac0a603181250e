// Lifecycle phases of `npm run bench`: deploy 20 at once vs spawning the same servers directly, an update under
// load (failed calls counted), and memory per idle deployment with scale.min 0. Each Berth is its own, with BENCH_ENV.
import { performance } from 'node:perf_hooks';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { TestApi } from '../test/support/api.js';
import { ROOT, startBerth } from '../test/support/berth-process.js';
import { connectV1, connectV2, textOf, type McpTestClient } from '../test/support/clients.js';
import { echoSpec } from '../test/support/servers.js';
import { BENCH_ENV, disposeBerth, progress, sleep } from './phases.js';
import { childPids, settledRssKb } from './procs.js';

const DEPLOYS = 20;
const ECHO = `${ROOT}/src/mcp/testing/mcp-echo-server.mjs`;

/** The floor: `n` echo servers spawned at once, each through initialize and tools/list over stdio. */
async function directSpawns(n: number): Promise<number> {
  const t0 = performance.now();
  const clients = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = new Client({ name: 'bench-direct', version: '1.0.0' });
      await c.connect(new StdioClientTransport({ command: process.execPath, args: [ECHO], cwd: ROOT, stderr: 'ignore' }));
      await c.listTools();
      return c;
    }),
  );
  const ms = performance.now() - t0;
  await Promise.all(clients.map((c) => c.close()));
  return ms;
}

/** `n` deployments posted at once until every one is running (Berth probes each with tools/list). */
async function berthDeploys(api: TestApi, n: number, tag: string): Promise<number> {
  const t0 = performance.now();
  const made = await Promise.all(Array.from({ length: n }, (_, i) => api.deploy(echoSpec(`deploy-${tag}-${i}`))));
  const waiting = new Set(made.map((d) => d.id));
  while (waiting.size > 0) {
    const { body } = await api.call<{ items: { id: string; status: string; status_message: string | null }[] }>('GET', '/api/deployments');
    for (const d of body.items) {
      if (!waiting.has(d.id)) continue;
      if (d.status === 'running') waiting.delete(d.id);
      else if (d.status === 'failed') throw new Error(`${d.id} failed: ${d.status_message}`);
    }
    // The list is polled every 100 ms (BENCH_DEPLOY_POLL_MS): on 2 cores a 20 ms poll of 20 deployments costs Berth
    // about 0.08× of this figure (measured 1.137× at 20 ms vs 1.059× at 200 ms, same sitting); the CLI polls every 500 ms.
    if (waiting.size > 0) await sleep(Number(process.env.BENCH_DEPLOY_POLL_MS ?? 100));
  }
  const ms = performance.now() - t0;
  await Promise.all(made.map((d) => api.call('DELETE', `/api/deployments/${d.id}`)));
  return ms;
}

export interface DeployResult {
  rounds: { directMs: number; berthMs: number }[];
}

export async function measureDeploys(rounds = 5): Promise<DeployResult> {
  // BENCH_DEPLOY_LIMITS=prlimit: the same without a cgroup per server (to see what the cgroups cost).
  const limits = process.env.BENCH_DEPLOY_LIMITS;
  const berth = await startBerth({ env: { ...BENCH_ENV, ...(limits ? { BERTH_LIMITS: limits } : {}) } });
  const api = new TestApi(berth.url, berth.token);
  try {
    const out: DeployResult['rounds'] = [];
    for (let r = 0; r < rounds; r++) {
      // Alternate which goes first, so neither always meets a warmer page cache.
      const first = r % 2 === 0;
      const a = first ? await directSpawns(DEPLOYS) : await berthDeploys(api, DEPLOYS, `r${r}`);
      await sleep(500);
      const b = first ? await berthDeploys(api, DEPLOYS, `r${r}`) : await directSpawns(DEPLOYS);
      out.push(first ? { directMs: a, berthMs: b } : { directMs: b, berthMs: a });
      progress(`deploy round ${r + 1}: direct ${out.at(-1)!.directMs.toFixed(0)} ms, Berth ${out.at(-1)!.berthMs.toFixed(0)} ms`);
      await sleep(500);
    }
    return { rounds: out };
  } finally {
    await disposeBerth(berth);
  }
}

export interface UpdateResult {
  calls: number;
  failed: number;
  /** From the PATCH to the new revision serving. */
  rolloutMs: number;
  /** Sessions whose last answer came from the new revision. */
  moved: number;
  sessions: number;
  /** The first few failures, as the client saw them. */
  errors: string[];
}

/** 8 SDK sessions call a tool in a loop while the deployment is updated; failed calls are counted. */
export async function measureUpdate(): Promise<UpdateResult> {
  const berth = await startBerth({ env: BENCH_ENV });
  const api = new TestApi(berth.url, berth.token);
  const clients: McpTestClient[] = [];
  let running = true;
  try {
    const d = await api.deploy(echoSpec('bench-update', [], {}, { env: { REV: 'old' } }));
    await api.waitFor(d.id);
    for (let i = 0; i < 8; i++) clients.push(await (i % 2 ? connectV1 : connectV2)(d.endpoint));
    let calls = 0;
    let failed = 0;
    const errors: string[] = [];
    const last = clients.map(() => '');
    const loops = clients.map(async (c, i) => {
      while (running) {
        try {
          last[i] = textOf(await c.call('env', { name: 'REV' }));
          calls++;
        } catch (err) {
          failed++;
          if (errors.length < 3) errors.push(`${c.sdk}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    });
    await sleep(1000);
    const t0 = performance.now();
    await api.call('PATCH', `/api/deployments/${d.id}`, { spec: { env: { REV: 'new' } } });
    for (;;) {
      const s = await api.status(d.id);
      if (s.observed_generation >= s.generation && s.status !== 'deploying') break;
      await sleep(10);
    }
    const rolloutMs = performance.now() - t0;
    await sleep(1000);
    running = false;
    await Promise.all(loops);
    return { calls, failed, rolloutMs, moved: last.filter((v) => v === 'new').length, sessions: clients.length, errors };
  } finally {
    running = false;
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await disposeBerth(berth);
  }
}

export interface IdleMemoryResult {
  deployments: number;
  /** Berth's RSS with the deployments idle, minus before them, KiB. */
  berthDeltaKb: number;
  /** Server processes left running once idle. */
  serverProcesses: number;
}

/** `n` deployments with scale.min 0 and a 1 s idle time: what they cost once idle. */
export async function measureIdleMemory(n = 20): Promise<IdleMemoryResult> {
  const berth = await startBerth({ env: BENCH_ENV });
  const api = new TestApi(berth.url, berth.token);
  try {
    const pid = berth.proc.pid!;
    const before = await settledRssKb(pid);
    const made = await Promise.all(Array.from({ length: n }, (_, i) => api.deploy(echoSpec(`idle-${i}`, [], {}, { scale: { min: 0, idle_s: 1 } }))));
    for (const d of made) await api.waitFor(d.id, 'idle', 60_000);
    const after = await settledRssKb(pid);
    return { deployments: n, berthDeltaKb: after - before, serverProcesses: childPids(pid, 'mcp-echo-server.mjs').length };
  } finally {
    await disposeBerth(berth);
  }
}

/** Runs the lifecycle phases and renders their section of the report. */
export async function lifecycleReport(): Promise<string> {
  const lines = ['', '## Lifecycle (each phase on its own Berth)'];
  const failed = (err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`;
  progress(`deploy: ${DEPLOYS} deployments posted at once vs the same servers spawned directly`);
  const deploys = await measureDeploys().catch(failed);
  if (typeof deploys === 'string') lines.push(`- deploy ${DEPLOYS} at once: ${deploys}`);
  else {
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const direct = med(deploys.rounds.map((r) => r.directMs));
    const berth = med(deploys.rounds.map((r) => r.berthMs));
    lines.push(`- deploy ${DEPLOYS} at once until all run (list polled every ${process.env.BENCH_DEPLOY_POLL_MS ?? 100} ms): Berth ${berth.toFixed(0)} ms vs direct spawn+initialize+tools/list ${direct.toFixed(0)} ms = **${(berth / direct).toFixed(2)}×** (median of ${deploys.rounds.length}; target ≤ 1.10×)`);
  }
  progress('update: 8 sessions calling in a loop while the deployment is updated');
  const update = await measureUpdate().catch(failed);
  lines.push(
    typeof update === 'string'
      ? `- update under load: ${update}`
      : `- update under load: ${update.calls} calls from ${update.sessions} sessions, **${update.failed} failed**; new revision serving ${update.rolloutMs.toFixed(0)} ms after the PATCH; ${update.moved}/${update.sessions} sessions on it at the end${update.errors.length ? ` (first failures: ${update.errors.join(' | ')})` : ''}`,
  );
  progress('memory: 20 deployments with scale.min 0, once idle');
  const idle = await measureIdleMemory().catch(failed);
  lines.push(
    typeof idle === 'string'
      ? `- idle deployments (min 0): ${idle}`
      : `- ${idle.deployments} idle deployments (min 0): ${idle.serverProcesses} server processes, Berth +${(idle.berthDeltaKb / 1024).toFixed(1)} MiB in all = ${(idle.berthDeltaKb / idle.deployments).toFixed(0)} KiB each (target: 0 processes)`,
  );
  return lines.join('\n');
}
