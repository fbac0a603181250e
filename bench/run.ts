// `npm run bench`: Berth's gateway and stdio bridge against a direct Streamable HTTP baseline, in one run.
// Knobs (env): BENCH_WAKE_ROUNDS=10  BENCH_CONCURRENCY=1,16,64  BENCH_WARMUP_MS=1000  BENCH_MEASURE_MS=5000  BENCH_ROUNDS=5  BENCH_IDLE_SESSIONS=2000  BENCH_STARTUP_RUNS=7
//   (each target's MEASURE_MS and WARMUP_MS per C are split into ROUNDS interleaved slices)
//   BENCH_REFERENCE=off (skip the reference gateways: HAProxy, when installed, and a bare Node.js TCP relay)
//   BENCH_UPSTREAM_JSON=1 (the baseline answers application/json instead of the SDK's default SSE)
//   BENCH_LIFECYCLE=off (skip deploy-20, update-under-load and idle-memory phases)
//   BENCH_DEPLOY=off (skip deploy-to-ready from source, bench/deploy.ts: container and process runtime phases)
//   BENCH_TOOL_SEARCH=off (skip group tool search recall and latency, bench/tool-search.ts)
//   BENCH_GROUP=off (skip the group overhead: a call through /g/NAME/mcp against the member's own endpoint)
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { TestApi } from '../test/support/api.js';
import { ROOT, startBerth } from '../test/support/berth-process.js';
import { echoSpec } from '../test/support/servers.js';
import { measureBurstOpens, measureOpens, mergeCells, runCell, type CellOptions, type CellResult } from './load.js';
import { lifecycleReport } from './lifecycle.js';
import { benchDeploy } from './deploy.js';
import { benchToolSearch } from './tool-search.js';
import { benchGroup } from './group.js';
import { isMeasured, startReferences } from './reference.js';
import { BENCH_ENV, checkIdleExpiry, deployAndWait, disposeBerth, isolatedEchoSpec, measureIsolated, measureSessionMemory, progress, type IsolatedResult } from './phases.js';
import { childPids, cpuMs, settledRssKb, startHttpServer } from './procs.js';
import { buildReport, type BenchResults, type TargetResult } from './report.js';
import { measureWake } from './wake.js';
import { measureStartup, type StartupResult } from './startup.js';
import { measureIsolatedBursts, type IsolatedBurstResult } from './isolated.js';

const num = (name: string, def: number): number => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`);
  return v;
};
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number).filter((c) => Number.isInteger(c) && c > 0);
const WARMUP_MS = num('BENCH_WARMUP_MS', 1000);
const MEASURE_MS = num('BENCH_MEASURE_MS', 5000);
const ROUNDS = Math.max(1, Math.round(num('BENCH_ROUNDS', 5)));
const IDLE_SESSIONS = num('BENCH_IDLE_SESSIONS', 2000);
const STARTUP_RUNS = Math.max(1, Math.round(num('BENCH_STARTUP_RUNS', 7)));
const UPSTREAM_JSON = process.env.BENCH_UPSTREAM_JSON === '1';
const SERIAL_OPENS = 200;
const WAKE_ROUNDS = Math.max(1, Math.round(num('BENCH_WAKE_ROUNDS', 10)));
const ISO_WARM = 4;
/** Isolated opens from a full pool: rounds of one session, then rounds of ISO_WARM at once. */
const ISO_ROUNDS = { singles: 10, bursts: 3 };
/** Pause before each round (the pool refills, its new processes settle); the shared bridge's reference rounds pause as long. */
const ISO_PAUSE_MS = 1500;
const HARNESS_TIMEOUT_MS = 10 * 60_000;

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => progress(`cleanup: ${String(err)}`));
}

/** Whose CPU time to charge to each call: the gateway in the path (Berth or the reference) and the MCP server process(es). */
interface CpuPids {
  proxy?: number;
  server(): number[];
}

/** One thing to measure: an MCP endpoint and whose CPU to charge. */
interface Plan {
  name: string;
  url: string;
  pids: CpuPids;
  note?: string;
  stateless?: boolean;
  /** Berth's Authorization header for Berth's targets. */
  headers?: Record<string, string>;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * All plans at each C, interleaved: ROUNDS slices each, in alternating order, so that a slow drift of the
 * machine (other load, the baseline server's heap) spreads evenly over every plan instead of landing on
 * whichever ran last. A plan's slices are merged into one cell.
 */
async function measureInterleaved(plans: Plan[]): Promise<TargetResult[]> {
  const cells = plans.map(() => [] as CellResult[]);
  const sliceMs = MEASURE_MS / ROUNDS;
  const warmMs = Math.max(200, WARMUP_MS / ROUNDS);
  for (const c of LEVELS) {
    progress(`C=${c}: ${plans.length} targets × ${ROUNDS} slices of ${sliceMs.toFixed(0)} ms`);
    const merged = plans.map(() => null as CellResult | null);
    const cpu = plans.map(() => ({ proxy: 0, server: 0, client: 0 }));
    for (let r = 0; r < ROUNDS; r++) {
      const order = plans.map((_, i) => i);
      if (r % 2 === 1) order.reverse();
      for (const i of order) {
        const plan = plans[i]!;
        const server = plan.pids.server();
        const proxy0 = plan.pids.proxy ? cpuMs(plan.pids.proxy) : Number.NaN;
        const server0 = server.length ? sum(server.map(cpuMs)) : Number.NaN;
        const client0 = process.cpuUsage();
        const cell = await runCell(plan.url, { concurrency: c, warmupMs: warmMs, measureMs: sliceMs, stateless: plan.stateless, headers: plan.headers });
        const client = process.cpuUsage(client0);
        cpu[i]!.proxy += (plan.pids.proxy ? cpuMs(plan.pids.proxy) : Number.NaN) - proxy0;
        cpu[i]!.server += sum(server.map(cpuMs)) - server0;
        cpu[i]!.client += (client.user + client.system) / 1000;
        merged[i] = merged[i] ? mergeCells(merged[i]!, cell) : cell;
      }
    }
    merged.forEach((cell, i) => {
      const calls = Math.max(1, cell!.attempts);
      const perCall = (ms: number) => (ms * 1000) / calls;
      cell!.cpu = { proxyUs: perCall(cpu[i]!.proxy), serverUs: perCall(cpu[i]!.server), clientUs: perCall(cpu[i]!.client) };
      cells[i]!.push(cell!);
    });
  }
  const out: TargetResult[] = [];
  for (const [i, plan] of plans.entries()) {
    const result: TargetResult = { name: plan.name, cells: cells[i]!, note: plan.note };
    if (!plan.stateless) {
      const opens = await measureOpens(plan.url, SERIAL_OPENS, 10, plan.headers);
      if (opens.errors > 0) throw new Error(`${plan.name}: ${opens.errors} session opens failed (first: ${opens.firstError})`);
      result.serialOpens = opens.opens;
    }
    out.push(result);
  }
  return out;
}

async function bench(): Promise<BenchResults> {
  const loadStart = loadavg();
  // First, while nothing else of the bench runs: Berth's own start-up and idle weight.
  progress(`memory/startup: ${STARTUP_RUNS} starts of Berth and of a bare node http server`);
  const startup: StartupResult | string = await measureStartup(STARTUP_RUNS, { env: BENCH_ENV }).catch((err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`);
  const http = await startHttpServer({ jsonResponse: UPSTREAM_JSON });
  cleanups.push(() => http.stop());
  const berth = await startBerth({ env: { ...BENCH_ENV, BERTH_MAX_SESSIONS: String(2 * IDLE_SESSIONS + 1000) } });
  cleanups.push(() => disposeBerth(berth));
  const pid = berth.proc.pid!;
  const rssStart = await settledRssKb(pid);
  const api = new TestApi(berth.url, berth.token);
  progress(`berth pid ${pid} on ${berth.url}; baseline pid ${http.pid} on ${http.url}`);

  const gw = await deployAndWait(api, berth.url, { name: 'bench-http', spec: { type: 'url', endpoint: http.url } });
  const stdio = await deployAndWait(api, berth.url, echoSpec('bench-stdio'));
  const rssIdle = await settledRssKb(pid);

  const httpPids = () => [http.pid];
  const echoPids = () => childPids(pid, 'mcp-echo-server.mjs');
  const refs = await startReferences(http.url);
  const running = refs.filter(isMeasured);
  for (const r of running) cleanups.push(() => r.stop());
  for (const r of refs) progress(isMeasured(r) ? `${r.name} pid ${r.pid} on ${r.url}` : `reference ${r.label}: ${r.reason}`);
  const plans: Plan[] = [
    { name: 'direct: SDK Streamable HTTP server', url: http.url, pids: { server: httpPids } },
    { name: 'gateway: same server via Berth (type url)', url: gw.url, headers: gw.headers, pids: { proxy: pid, server: httpPids } },
    { name: 'stdio bridge: mcp-echo-server (shared)', url: stdio.url, headers: stdio.headers, pids: { proxy: pid, server: echoPids } },
    {
      name: 'stdio bridge, stateless 2026-07-28 (shared)', url: stdio.url, headers: stdio.headers, pids: { proxy: pid, server: echoPids }, stateless: true,
      note: 'the same echo calls without a session: _meta envelope, MCP-Protocol-Version, Mcp-Method and Mcp-Name on every request',
    },
    ...running.map((r) => ({ name: r.name, url: r.url, pids: { proxy: r.pid, server: httpPids }, note: r.note })),
  ];
  const [direct, gateway, bridge, stateless, ...refResults] = await measureInterleaved(plans);
  const targets = [direct!, gateway!, bridge!];
  for (const r of running) await r.stop();
  progress(`stdio bridge (shared): session opens in rounds, as the isolated pool's are measured`);
  const sharedSingles = await measureBurstOpens(stdio.url, 1, ISO_ROUNDS.singles, ISO_PAUSE_MS, stdio.headers);
  const sharedBursts = await measureBurstOpens(stdio.url, ISO_WARM, ISO_ROUNDS.bursts, ISO_PAUSE_MS, stdio.headers);
  const openErrors = sharedSingles.errors + sharedBursts.errors;
  if (openErrors > 0) throw new Error(`shared bridge opens in rounds: ${openErrors} failed (first: ${sharedSingles.firstError ?? sharedBursts.firstError})`);

  let isolated: IsolatedResult | string | null = null;
  if (existsSync(join(ROOT, 'dist/mcp/bridge/isolated.js'))) {
    progress('isolated: deploying');
    try {
      const iso = await deployAndWait(api, berth.url, isolatedEchoSpec('bench-isolated', ISO_WARM, 80));
      const cells: CellOptions[] = [1, ISO_WARM].map((c) => ({ concurrency: c, warmupMs: WARMUP_MS, measureMs: MEASURE_MS }));
      isolated = await measureIsolated(api, iso.url, iso.id, ISO_WARM, cells, ISO_ROUNDS, ISO_PAUSE_MS);
      await api.call('POST', `/api/deployments/${iso.id}/stop`);
      await api.waitFor(iso.id, 'stopped', 30_000);
    } catch (err) {
      isolated = `failed: ${(err as Error).message}`;
    }
  }
  let isolatedPool: IsolatedBurstResult | string | null = null;
  if (existsSync(join(ROOT, 'dist/mcp/isolated.js'))) {
    progress('isolated pool: 16 opens at once after a warm-up burst');
    isolatedPool = await measureIsolatedBursts(api, berth.url, 16, 5).catch((err: unknown) => `failed: ${(err as Error).message}`);
  }
  const rssAfterLoad = await settledRssKb(pid);

  await disposeBerth(berth);
  const failed = (err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`;
  progress(`memory: ${IDLE_SESSIONS} idle sessions on the stdio bridge (dedicated Berth)`);
  const memory = await measureSessionMemory(IDLE_SESSIONS).catch(failed);
  progress('idle expiry: another Berth with BERTH_SESSION_IDLE_S=2');
  const expiry = await checkIdleExpiry(500, 2, 4000).catch(failed);
  progress(`wake: ${WAKE_ROUNDS} starts from zero (shared bridge from a snapshot) and as many bare cold starts`);
  const wake = await measureWake(WAKE_ROUNDS).catch(failed);

  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const header = [
    `# Berth gateway benchmark (node ${process.version}, ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms per cell in ${ROUNDS} interleaved slices, tools/call echo; baseline answers ${UPSTREAM_JSON ? 'JSON' : 'SSE'})`,
    `host: ${availableParallelism()} CPUs, load average ${load(loadStart)} at start, ${load(loadavg())} at end (load generator, Berth and servers share them)`,
    'slices: at each C every target runs one slice per round, in alternating order, and its slices are merged;',
    '"per round": the lowest and highest calls/s ratio between slices of the same round (the noise within this run);',
    'latency: calls started after a slice\'s warm-up and finished in its window; open: initialize + notifications/initialized, all C sessions at once on new connections;',
    'CPU µs/call: CPU time each process used over the whole cell (warm-ups and opens included) / calls attempted (/proc/PID/stat).',
  ];
  return {
    meta: { header, levels: LEVELS, isoWarm: ISO_WARM, idleSessions: IDLE_SESSIONS },
    targets: targets as BenchResults['targets'],
    stateless: stateless!,
    references: refs.map((r) => ({ label: r.label, result: isMeasured(r) ? refResults[running.indexOf(r)] ?? 'not measured' : r.reason })),
    sharedOpens: { singles: sharedSingles.opens, bursts: sharedBursts.opens },
    isolated,
    isolatedPool,
    rss: { start: rssStart, idle: rssIdle, afterLoad: rssAfterLoad },
    memory,
    expiry,
    wake,
    startup,
  };
}



async function main(): Promise<number> {
  if (LEVELS.length === 0) throw new Error('BENCH_CONCURRENCY lists no positive integers');
  const watchdog = setTimeout(() => {
    progress(`harness did not finish within ${HARNESS_TIMEOUT_MS / 1000} s; stopping`);
    void cleanup().finally(() => process.exit(2));
  }, HARNESS_TIMEOUT_MS);
  watchdog.unref();
  try {
    const { text, problems } = buildReport(await bench());
    process.stdout.write(`${text}\n`);
    if (process.env.BENCH_LIFECYCLE !== 'off') process.stdout.write(`${await lifecycleReport()}\n`);
    if (process.env.BENCH_DEPLOY !== 'off') await benchDeploy();
    if (process.env.BENCH_TOOL_SEARCH !== 'off') benchToolSearch();
    if (process.env.BENCH_GROUP !== 'off') await benchGroup();
    for (const p of problems) process.stderr.write(`bench: HARNESS FAILURE: ${p}\n`);
    return problems.length ? 1 : 0;
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => void cleanup().finally(() => process.exit(130)));
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    let text = err instanceof Error ? (err.stack ?? err.message) : String(err);
    for (let c = (err as { cause?: unknown }).cause, i = 0; c !== undefined && i < 4; c = (c as { cause?: unknown }).cause, i++) text += `\ncaused by: ${String(c)}`;
    process.stderr.write(`bench: HARNESS FAILURE: ${text}\n`);
    void cleanup().finally(() => process.exit(1));
  },
);
