// `npm run bench`: Berth's gateway and stdio bridge against a direct Streamable HTTP baseline, in one run.
// Knobs (env): BENCH_CONCURRENCY=1,16,64  BENCH_WARMUP_MS=1000  BENCH_MEASURE_MS=5000  BENCH_IDLE_SESSIONS=2000
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { TestApi } from '../test/support/api.js';
import { ROOT, startBerth } from '../test/support/berth-process.js';
import { echoSpec } from '../test/support/servers.js';
import { measureOpens, percentile, runCell, type CellOptions } from './load.js';
import {
  BENCH_ENV,
  checkIdleExpiry,
  deployAndWait,
  isolatedEchoSpec,
  measureIsolated,
  measureSessionMemory,
  progress,
  type ExpiryResult,
  type IsolatedResult,
  type MemoryResult,
} from './phases.js';
import { childPids, cpuMs, settledRssKb, startHttpServer } from './procs.js';
import { errorRate, formatChecks, formatRatios, formatTarget, ms, ratio, summarize, type TargetCheck, type TargetResult } from './report.js';

const num = (name: string, def: number): number => {
  const v = Number(process.env[name] ?? def);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`);
  return v;
};
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number).filter((c) => Number.isInteger(c) && c > 0);
const WARMUP_MS = num('BENCH_WARMUP_MS', 1000);
const MEASURE_MS = num('BENCH_MEASURE_MS', 5000);
const IDLE_SESSIONS = num('BENCH_IDLE_SESSIONS', 2000);
const SERIAL_OPENS = 200;
const ISO_WARM = 4;
const HARNESS_TIMEOUT_MS = 10 * 60_000;
const MAX_ERROR_RATE = 0.01;

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanup(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => progress(`cleanup: ${String(err)}`));
}

interface Results {
  loadStart: number[];
  targets: TargetResult[];
  isolated: IsolatedResult | string | null;
  rss: { start: number; idle: number; afterLoad: number };
  memory: MemoryResult;
  expiry: ExpiryResult;
}

/** Whose CPU time to charge to each call: Berth (when in the path) and the MCP server process(es). */
interface CpuPids {
  berth?: number;
  server(): number[];
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function measure(name: string, url: string, pids: CpuPids, note?: string): Promise<TargetResult> {
  const cells = [];
  for (const c of LEVELS) {
    progress(`${name} C=${c}`);
    const server = pids.server();
    const berth0 = pids.berth ? cpuMs(pids.berth) : Number.NaN;
    const server0 = server.length ? sum(server.map(cpuMs)) : Number.NaN;
    const client0 = process.cpuUsage();
    const cell = await runCell(url, { concurrency: c, warmupMs: WARMUP_MS, measureMs: MEASURE_MS });
    const client = process.cpuUsage(client0);
    const calls = Math.max(1, cell.attempts);
    cell.cpu = {
      berthUs: ((pids.berth ? cpuMs(pids.berth) : Number.NaN) - berth0) * 1000 / calls,
      serverUs: (sum(server.map(cpuMs)) - server0) * 1000 / calls,
      clientUs: (client.user + client.system) / calls,
    };
    cells.push(cell);
  }
  const opens = await measureOpens(url, SERIAL_OPENS);
  if (opens.errors > 0) throw new Error(`${name}: ${opens.errors} session opens failed (first: ${opens.firstError})`);
  return { name, cells, note, serialOpens: opens.opens };
}

async function bench(): Promise<Results> {
  const loadStart = loadavg();
  const http = await startHttpServer();
  cleanups.push(() => http.stop());
  const berth = await startBerth({ env: { ...BENCH_ENV, BERTH_MAX_SESSIONS: String(2 * IDLE_SESSIONS + 1000) } });
  cleanups.push(() => berth.dispose());
  const pid = berth.proc.pid!;
  const rssStart = await settledRssKb(pid);
  const api = new TestApi(berth.url);
  progress(`berth pid ${pid} on ${berth.url}; baseline pid ${http.pid} on ${http.url}`);

  const gw = await deployAndWait(api, berth.url, { name: 'bench-http', spec: { type: 'url', endpoint: http.url } });
  const stdio = await deployAndWait(api, berth.url, echoSpec('bench-stdio'));
  const rssIdle = await settledRssKb(pid);

  const httpPids = () => [http.pid];
  const echoPids = () => childPids(pid, 'mcp-echo-server.mjs');
  const targets = [
    await measure('direct: SDK Streamable HTTP server', http.url, { server: httpPids }),
    await measure('gateway: same server via Berth (type url)', gw.url, { berth: pid, server: httpPids }),
    await measure('stdio bridge: mcp-echo-server (shared)', stdio.url, { berth: pid, server: echoPids }),
  ];

  let isolated: IsolatedResult | string | null = null;
  if (existsSync(join(ROOT, 'dist/mcp/isolated.js'))) {
    progress('isolated: deploying');
    try {
      const iso = await deployAndWait(api, berth.url, isolatedEchoSpec('bench-isolated', ISO_WARM, 80));
      const cells: CellOptions[] = [1, ISO_WARM].map((c) => ({ concurrency: c, warmupMs: WARMUP_MS, measureMs: MEASURE_MS }));
      isolated = await measureIsolated(api, iso.url, iso.id, ISO_WARM, cells, { singles: 6, bursts: 2 });
      await api.call('POST', `/api/deployments/${iso.id}/stop`);
      await api.waitFor(iso.id, 'stopped', 30_000);
    } catch (err) {
      isolated = `failed: ${(err as Error).message}`;
    }
  }
  const rssAfterLoad = await settledRssKb(pid);

  await berth.dispose();
  progress(`memory: ${IDLE_SESSIONS} idle sessions on the stdio bridge (dedicated Berth)`);
  const memory = await measureSessionMemory(IDLE_SESSIONS);

  progress('idle expiry: second Berth with BERTH_SESSION_IDLE_S=2');
  const expiry = await checkIdleExpiry(500, 2, 4000);
  return { loadStart, targets, isolated, rss: { start: rssStart, idle: rssIdle, afterLoad: rssAfterLoad }, memory, expiry };
}

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;

function report(r: Results): { text: string; problems: string[] } {
  const [direct, gateway, bridge] = r.targets as [TargetResult, TargetResult, TargetResult];
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const lines = [
    `# Berth gateway benchmark (node ${process.version}, ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms per cell, tools/call echo)`,
    `host: ${availableParallelism()} CPUs, load average ${load(r.loadStart)} at start, ${load(loadavg())} at end (load generator, Berth and servers share them)`,
    'latency: calls started after the warm-up and finished in the window; open: initialize + notifications/initialized, all C sessions at once on new connections;',
    'CPU µs/call: CPU time each process used over the whole cell (warm-up and opens included) / calls attempted (/proc/PID/stat).',
    '',
  ];
  const iso = typeof r.isolated === 'object' && r.isolated !== null ? r.isolated : null;
  const isoTarget: TargetResult | null = iso ? { name: 'isolated: mcp-echo-server (warm 4, max 80)', cells: iso.cells, note: 'C ≤ warm pool, so every session gets a pre-started process' } : null;
  for (const t of [...r.targets, ...(isoTarget ? [isoTarget] : [])]) lines.push(...formatTarget(t));
  if (typeof r.isolated === 'string') lines.push(`## isolated: ${r.isolated}`, '');
  if (r.isolated === null) lines.push('## isolated: skipped (dist/mcp/isolated.js not built)', '');
  if (iso) {
    const o = (v: number[]) => `p50 ${ms(percentile(v, 0.5))} ms, max ${ms(v[v.length - 1] ?? Number.NaN)} ms (${v.length} opens)`;
    lines.push(`isolated session open from a full warm pool: one at a time ${o(iso.singleOpens)}; ${ISO_WARM} at once ${o(iso.burstOpens)}; ${iso.warmOpenErrors} errors`, '');
  }
  lines.push(...formatRatios(direct, [gateway, bridge]));

  const m = r.memory;
  const e = r.expiry;
  lines.push(
    '## memory (Berth RSS, /proc VmRSS, settled)',
    `right after start: ${mb(r.rss.start)}; deployments idle (url + stdio): ${mb(r.rss.idle)}; idle after the load cells: ${mb(r.rss.afterLoad)}`,
    `${m.sessions} idle sessions on the stdio bridge (fresh Berth, ${m.forcedGc ? 'full GC forced before each reading' : 'GC could not be forced'}):`,
    `  RSS ${mb(m.beforeKb)} → ${mb(m.afterKb)} = ${m.kbPerSession.toFixed(1)} KB/session; V8 heap used ${mb(m.heapBeforeKb)} → ${mb(m.heapAfterKb)} = ${m.heapKbPerSession.toFixed(1)} KB/session`,
    `  second batch of ${m.sessions}: RSS → ${mb(m.secondAfterKb)} = ${m.secondKbPerSession.toFixed(1)} KB/session; status reported ${m.statusSessions} sessions after the first batch; ${m.errors} open errors`,
    '',
    `## idle expiry (BERTH_SESSION_IDLE_S=${e.idleS}): ${e.pass ? 'PASS' : 'FAIL'}`,
    `opened ${e.opened}, status sessions ${e.sessionsAfterOpen} → ${e.sessionsAfterWait} after ${(e.waitedMs / 1000).toFixed(1)} s; a call on an expired session got ${e.expiredStatus}`,
    '',
  );

  const top = Math.max(...LEVELS);
  const at = (t: TargetResult, c: number) => t.cells.find((x) => x.c === c);
  const checks: TargetCheck[] = [];
  const d64 = at(direct, top);
  const g64 = at(gateway, top);
  if (d64 && g64) {
    const v = summarize(g64).rps / summarize(d64).rps;
    checks.push({ label: `gateway throughput, C=${top}`, goal: '≥ 1.00× direct (±3% noise)', actual: ratio(v), ok: v >= 0.97 });
  }
  for (const c of LEVELS) {
    const d = at(direct, c);
    const g = at(gateway, c);
    if (!d || !g) continue;
    const v = summarize(g).p50 / summarize(d).p50;
    checks.push({ label: `gateway p50, C=${c}`, goal: '≤ 1.03× direct', actual: ratio(v), ok: v <= 1.03 });
  }
  const so = bridge.serialOpens ?? [];
  checks.push(openCheck('stdio bridge session open p50 (one at a time)', percentile(so, 0.5)));
  checks.push(openCheck('stdio bridge session open p99 (one at a time)', percentile(so, 0.99)));
  const burst = at(bridge, top);
  if (burst) checks.push({ ...openCheck(`stdio bridge session open p50 (${top} at once, new connections)`, summarize(burst).openP50), ok: null });
  if (iso) checks.push(openCheck('isolated session open p50 (warm pool, one at a time)', percentile(iso.singleOpens, 0.5)));
  const perSession = Math.max(m.kbPerSession, Number.isFinite(m.heapKbPerSession) ? m.heapKbPerSession : 0);
  const memActual = `${m.kbPerSession.toFixed(1)} KB RSS, ${ms(m.heapKbPerSession, 1)} KB heap`;
  checks.push({ label: 'memory per extra idle session', goal: '≤ 100 KB', actual: memActual, ok: perSession <= 100 });
  checks.push({ label: 'idle sessions expire', goal: 'sessions → 0', actual: String(e.sessionsAfterWait), ok: e.pass });
  lines.push(...formatChecks(checks));

  const problems: string[] = [];
  for (const t of [...r.targets, ...(isoTarget ? [isoTarget] : [])]) {
    const rate = errorRate(t);
    if (rate > MAX_ERROR_RATE) {
      const first = t.cells.map((c) => c.firstError).find((x) => x);
      problems.push(`${t.name}: error rate ${(rate * 100).toFixed(2)}% > 1%${first ? ` (first: ${first})` : ''}`);
    }
  }
  if (typeof r.isolated === 'string') problems.push(`isolated ${r.isolated}`);
  if (m.errors > IDLE_SESSIONS * 2 * MAX_ERROR_RATE) problems.push(`memory phase: ${m.errors} session opens failed`);
  return { text: lines.join('\n'), problems };
}

function openCheck(label: string, v: number): TargetCheck {
  return { label, goal: '≤ 5 ms', actual: `${ms(v)} ms`, ok: Number.isFinite(v) ? v <= 5 : null };
}

async function main(): Promise<number> {
  if (LEVELS.length === 0) throw new Error('BENCH_CONCURRENCY lists no positive integers');
  const watchdog = setTimeout(() => {
    progress(`harness did not finish within ${HARNESS_TIMEOUT_MS / 1000} s; stopping`);
    void cleanup().finally(() => process.exit(2));
  }, HARNESS_TIMEOUT_MS);
  watchdog.unref();
  try {
    const { text, problems } = report(await bench());
    process.stdout.write(`${text}\n`);
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
