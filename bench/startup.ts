import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT } from '../test/support/berth-process.js';
import { freePort } from '../test/support/ports.js';
import { cpuMs, settledRssKb } from './procs.js';

/**
 * Berth's own weight: from `node dist/main.js` to the first 200 on /healthz, and its RSS once idle
 * (SQLite default config, an empty data dir, no deployments), against a bare `node -e` HTTP server
 * started and measured the same way in the same run.
 */

export interface StartupSample {
  /** Spawn to the first 200 on /healthz (the baseline: on /), ms. */
  readyMs: number;
  /** CPU time (user + system) the process had used by then, ms: less sensitive than readyMs to a busy machine. */
  readyCpuMs: number;
  /** VmRSS once it has settled after that, KiB. */
  idleRssKb: number;
}

export interface StartupResult {
  runs: number;
  berth: StartupSample[];
  baseline: StartupSample[];
}

const BASELINE = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Start one process, poll `path` every 2 ms until it answers 200, then let its RSS settle; stop it. */
async function sampleOnce(args: string[], env: Record<string, string>, port: number, path: string): Promise<StartupSample> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode} before answering:\n${err}`);
      if ((await get(port, path)) === 200) break;
      if (performance.now() - t0 > 30_000) throw new Error(`no 200 on ${path} within 30 s:\n${err}`);
      await sleep(2);
    }
    const readyMs = performance.now() - t0;
    const readyCpuMs = cpuMs(proc.pid!);
    const idleRssKb = await settledRssKb(proc.pid!, 2000, 8000);
    return { readyMs, readyCpuMs, idleRssKb };
  } finally {
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}

/** Berth started `runs` times (fresh data dir each time) and the bare server as often, interleaved. */
export async function measureStartup(runs: number, opts: { entry?: string; env?: Record<string, string> } = {}): Promise<StartupResult> {
  const berth: StartupSample[] = [];
  const baseline: StartupSample[] = [];
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    baseline.push(await sampleOnce(['-e', BASELINE], { PORT: String(port) }, port, '/'));
    const dataDir = mkdtempSync(join(tmpdir(), 'berth-startup-'));
    try {
      const bport = await freePort();
      const env = { BERTH_PORT: String(bport), BERTH_HOST: '127.0.0.1', BERTH_DATA_DIR: dataDir, BERTH_LOG_LEVEL: 'warn', BERTH_SANDBOX: 'none', ...opts.env };
      berth.push(await sampleOnce([opts.entry ?? join(ROOT, 'dist/main.js')], env, bport, '/healthz'));
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  return { runs, berth, baseline };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The goals of issue 11 for Berth's own weight. */
export const STARTUP_GOALS = { readyMs: 600, idleRssKb: 80 * 1024 };

export interface StartupCheck {
  label: string;
  goal: string;
  actual: string;
  ok: boolean | null;
}

const f0 = (v: number): string => (Number.isFinite(v) ? v.toFixed(0) : '—');
const mb = (kb: number): string => (Number.isFinite(kb) ? `${(kb / 1024).toFixed(1)} MB` : '—');
const times = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—');

/** The report's section: medians of Berth and of the bare server, and their ratios. */
export function formatStartup(r: StartupResult | string): string[] {
  if (typeof r === 'string') return [`## memory/startup: ${r}`, ''];
  const m = (s: StartupSample[], k: keyof StartupSample) => median(s.map((x) => x[k]));
  const row = (name: string, s: StartupSample[]) => `${name.padEnd(34)} ${f0(m(s, 'readyMs')).padStart(8)} ${f0(m(s, 'readyCpuMs')).padStart(8)} ${mb(m(s, 'idleRssKb')).padStart(10)}`;
  return [
    `## memory/startup: \`node dist/main.js\` to the first 200 on /healthz, then RSS once settled (SQLite, empty data dir, 0 deployments; medians of ${r.runs} starts, interleaved with the baseline)`,
    `${''.padEnd(34)} ${'ready ms'.padStart(8)} ${'CPU ms'.padStart(8)} ${'idle RSS'.padStart(10)}`,
    row('Berth', r.berth),
    row('baseline: bare node http server', r.baseline),
    `Berth / baseline: ready ${times(m(r.berth, 'readyMs'), m(r.baseline, 'readyMs'))}, CPU ${times(m(r.berth, 'readyCpuMs'), m(r.baseline, 'readyCpuMs'))}, RSS ${times(m(r.berth, 'idleRssKb'), m(r.baseline, 'idleRssKb'))} (+${mb(m(r.berth, 'idleRssKb') - m(r.baseline, 'idleRssKb'))})`,
    'ready ms is wall time and grows with the machine\'s load; CPU ms (user + system at that moment) much less so.',
    '',
  ];
}

/** Rows for the report's targets table. */
export function startupChecks(r: StartupResult | string | undefined): StartupCheck[] {
  if (r === undefined) return [];
  if (typeof r === 'string') return [{ label: 'Berth idle RSS', goal: `≤ ${mb(STARTUP_GOALS.idleRssKb)}`, actual: 'not measured', ok: false }];
  const rss = median(r.berth.map((x) => x.idleRssKb));
  const ready = median(r.berth.map((x) => x.readyMs));
  return [
    { label: 'Berth idle RSS (SQLite, 0 deployments)', goal: `≤ ${mb(STARTUP_GOALS.idleRssKb)}`, actual: mb(rss), ok: rss <= STARTUP_GOALS.idleRssKb },
    { label: 'Berth start to /healthz 200', goal: `≤ ${STARTUP_GOALS.readyMs} ms`, actual: `${f0(ready)} ms`, ok: ready <= STARTUP_GOALS.readyMs },
  ];
}

/** `tsx bench/startup.ts [RUNS]`: the phase alone, medians printed as JSON. */
if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const runs = Number(process.argv[2] ?? 7);
  const r = await measureStartup(runs, { entry: process.env.BENCH_ENTRY });
  const summary = (s: StartupSample[]) => ({ readyMs: Math.round(median(s.map((x) => x.readyMs))), readyCpuMs: Math.round(median(s.map((x) => x.readyCpuMs))), idleRssMb: +(median(s.map((x) => x.idleRssKb)) / 1024).toFixed(1), all: s.map((x) => `${Math.round(x.readyMs)}ms/${(x.idleRssKb / 1024).toFixed(1)}MB`) });
  console.log(JSON.stringify({ runs, berth: summary(r.berth), baseline: summary(r.baseline) }, null, 1));
}
