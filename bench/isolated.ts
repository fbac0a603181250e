// Isolated mode's adaptive warm pool: 16 session opens at once after a warm-up burst, against baselines measured in
// the same run (one open on a warm pool; the same server spawned directly and initialized over stdio).
// Part of `npm run bench`; alone: `npm run build && npx tsx bench/isolated.ts` (knobs: BENCH_ISO_BURST=16, BENCH_ISO_ROUNDS=5).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { TestApi } from '../test/support/api.js';
import { ROOT, startBerth } from '../test/support/berth-process.js';
import { echoSpec } from '../test/support/servers.js';
import { McpClientPool, closeSessions, openSessions, percentile } from './load.js';
import { BENCH_ENV, deployAndWait, disposeBerth, progress, sleep } from './phases.js';

export interface IsolatedBurstResult {
  burst: number;
  /** The first burst, on a pool of isolated.warm = 1 (what a burst cost before the pool adapts), ms, sorted. */
  coldBurst: number[];
  /** Bursts after the warm-up, ms, sorted (all rounds together). */
  warmBursts: number[];
  /** Opens one after another on a fresh connection, ms, in order (alternation shows here). */
  backToBack: number[];
  /** Baseline: one open at a time from a full pool, ms, sorted. */
  singleWarm: number[];
  /** Baseline: `burst` echo servers spawned directly at once, each to its initialize answer over stdio, ms, sorted. */
  directBurst: number[];
  /** Baseline: one echo server spawned directly to its initialize answer, ms, sorted. */
  directSingle: number[];
  errors: number;
  firstError: string | null;
}

const ECHO = join(ROOT, 'src/mcp/testing/mcp-echo-server.mjs');

/** Spawn the echo server and time it to its initialize answer over stdio (no Berth). */
async function directOpen(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [ECHO], { stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    const lines = createInterface({ input: child.stdout });
    const answered = new Promise<void>((resolve, reject) => {
      lines.on('line', (l) => {
        if (l.includes('"id":1')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`echo server exited (${code}) before answering initialize`)));
    });
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '0' } } })}\n`);
    await answered;
    return performance.now() - t0;
  } finally {
    child.kill('SIGTERM');
  }
}

async function directRound(n: number): Promise<number[]> {
  return (await Promise.all(Array.from({ length: n }, () => directOpen()))).sort((a, b) => a - b);
}

/** Wait until the deployment has no session and at least `want` processes (its pool), then let them settle. */
async function waitForPool(api: TestApi, id: string, want: number, settleMs: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await api.status(id);
    if (s.sessions === 0 && s.processes >= want) break;
    if (Date.now() > deadline) throw new Error(`isolated pool did not reach ${want} processes within ${timeoutMs / 1000} s (processes ${s.processes}, sessions ${s.sessions})`);
    await sleep(100);
  }
  await sleep(settleMs);
}

/**
 * The isolated phase on a running Berth: deploy the echo server isolated (warm 1, the pool may grow to `burst`),
 * open `burst` sessions at once (the warm-up: the pool learns the burst), then `rounds` measured bursts, each on a
 * pool that refilled; back-to-back opens; and the baselines.
 */
export async function measureIsolatedBursts(api: TestApi, base: string, burst: number, rounds: number, settleMs = 1500): Promise<IsolatedBurstResult> {
  const out: IsolatedBurstResult = { burst, coldBurst: [], warmBursts: [], backToBack: [], singleWarm: [], directBurst: [], directSingle: [], errors: 0, firstError: null };
  const note = (o: { errors: number; firstError: string | null }) => {
    out.errors += o.errors;
    out.firstError ??= o.firstError;
  };
  const dep = await deployAndWait(api, base, echoSpec('bench-isolated-pool', [], {}, { mode: 'isolated', isolated: { warm: 1, max_sessions: 4 * burst, max_warm: burst } }));
  const client = new McpClientPool(dep.url, burst, dep.headers);
  try {
    await waitForPool(api, dep.id, 1, settleMs);
    progress(`isolated pool: first burst of ${burst} on a pool of 1`);
    const cold = await openSessions(client, burst, burst);
    note(cold);
    out.coldBurst = cold.opens;
    await closeSessions(client, cold.sessions, burst);
    for (let r = 0; r < rounds; r++) {
      await waitForPool(api, dep.id, burst, settleMs);
      progress(`isolated pool: burst ${r + 1}/${rounds} of ${burst}`);
      const opened = await openSessions(client, burst, burst);
      note(opened);
      out.warmBursts.push(...opened.opens);
      await closeSessions(client, opened.sessions, burst);
    }
    out.warmBursts.sort((a, b) => a - b);
    await waitForPool(api, dep.id, burst, settleMs);
    progress('isolated pool: one open at a time from a full pool');
    for (let i = 0; i < rounds * 2; i++) {
      const one = await openSessions(client, 1, 1);
      note(one);
      out.singleWarm.push(...one.opens);
      await closeSessions(client, one.sessions, 1);
      await sleep(200);
    }
    out.singleWarm.sort((a, b) => a - b);
    progress('isolated pool: 40 opens back to back');
    for (let i = 0; i < 40; i++) {
      const one = await openSessions(client, 1, 1);
      note(one);
      out.backToBack.push(...one.opens);
      await closeSessions(client, one.sessions, 1);
    }
  } finally {
    await client.destroy();
    await api.call('POST', `/api/deployments/${dep.id}/stop`).catch(() => undefined);
  }
  progress(`direct: ${burst} echo servers spawned and initialized at once, and one alone`);
  for (let r = 0; r < rounds; r++) {
    out.directBurst.push(...(await directRound(burst)));
    out.directSingle.push(...(await directRound(1)));
    await sleep(500);
  }
  out.directBurst.sort((a, b) => a - b);
  out.directSingle.sort((a, b) => a - b);
  return out;
}

const ms = (x: number) => `${x.toFixed(1)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

/** The phase's report lines (markdown), with the p50 ≤ 50 ms goal for bursts after warm-up. */
export function formatIsolatedBursts(r: IsolatedBurstResult): string[] {
  const p = (xs: number[], q: number) => percentile(xs, q);
  const row = (name: string, xs: number[]) => `| ${name} | ${xs.length} | ${ms(p(xs, 0.5))} | ${ms(p(xs, 0.95))} | ${ratio(p(xs, 0.5), p(r.singleWarm, 0.5))} | ${ratio(p(xs, 0.5), p(r.directSingle, 0.5))} |`;
  const slow = r.backToBack.filter((x) => x > 100).length;
  const goal = p(r.warmBursts, 0.5) <= 50 ? 'met' : 'NOT met';
  return [
    `## isolated: ${r.burst} session opens at once on the adaptive warm pool (goal after warm-up: p50 ≤ 50 ms, ${goal}); ${r.errors} errors${r.firstError ? ` (first: ${r.firstError})` : ''}`,
    '',
    'open = initialize + notifications/initialized through Berth (auth, gateway, isolated bridge); ratios are p50 against the baselines of this run.',
    '',
    '| what | n | p50 | p95 | p50 / one open from a warm pool | p50 / one direct spawn + initialize |',
    '|---|---|---|---|---|---|',
    row(`first burst of ${r.burst}, pool of 1 (before it adapts)`, r.coldBurst),
    row(`bursts of ${r.burst} after the warm-up`, r.warmBursts),
    row('one open at a time, full pool (baseline)', r.singleWarm),
    row('opens back to back', [...r.backToBack].sort((a, b) => a - b)),
    row(`direct: ${r.burst} spawns + initialize at once`, r.directBurst),
    row('direct: one spawn + initialize (baseline)', r.directSingle),
    '',
    `back to back: ${slow} of ${r.backToBack.length} opens over 100 ms (the old pool of one alternated fast/slow); in order: ${r.backToBack.map((x) => x.toFixed(0)).join(' ')}`,
    '',
  ];
}

async function main(): Promise<void> {
  const burst = Number(process.env.BENCH_ISO_BURST ?? 16);
  const rounds = Number(process.env.BENCH_ISO_ROUNDS ?? 5);
  const berth = await startBerth({ env: { ...BENCH_ENV, BERTH_MAX_SESSIONS: String(8 * burst) } });
  try {
    const api = new TestApi(berth.url, berth.token);
    const r = await measureIsolatedBursts(api, berth.url, burst, rounds);
    process.stdout.write(`${formatIsolatedBursts(r).join('\n')}\n`);
  } finally {
    await disposeBerth(berth);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench: HARNESS FAILURE: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
