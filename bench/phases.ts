import { performance } from 'node:perf_hooks';
import type { CreateDeploymentInput } from '../src/core/index.js';
import { TestApi } from '../test/support/api.js';
import { startBerth, type BerthProcess } from '../test/support/berth-process.js';
import { echoSpec } from '../test/support/servers.js';
import { McpClientPool, closeSessions, openSessions, type CellOptions, type CellResult, runCell } from './load.js';
import { InspectorClient } from './inspector.js';
import { settledRssKb } from './procs.js';

/** Phases beyond the plain load cells: isolated warm pool, memory per session, idle expiry. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const BENCH_ENV = { BERTH_SANDBOX: 'none', BERTH_LOG_LEVEL: 'warn' };

/** Stop Berth (SIGTERM, waiting for its clean exit), killing it if it takes longer than `graceMs`; remove its data dir. */
export async function disposeBerth(berth: BerthProcess, graceMs = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs)));
  const done = await Promise.race([berth.dispose().then(() => 'done' as const), late]);
  clearTimeout(timer);
  if (done === 'late') {
    progress(`Berth pid ${berth.proc.pid} did not stop within ${graceMs} ms; killing it`);
    berth.proc.kill('SIGKILL');
  }
}

/** Log progress to stderr (the report goes to stdout). */
export const progress = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

/**
 * Deploy (private: the bench measures Berth with credentials on) and wait until it serves; returns the
 * deployment's MCP endpoint on `base` and the headers a client needs for it.
 */
export async function deployAndWait(api: TestApi, base: string, input: CreateDeploymentInput): Promise<{ id: string; url: string; headers: Record<string, string> }> {
  const view = await api.deploy({ ...input, access: 'private' });
  await api.waitFor(view.id, 'running', 60_000);
  return { id: view.id, url: `${base}/s/${view.id}/mcp`, headers: api.authHeaders() };
}

export function isolatedEchoSpec(name: string, warm: number, maxSessions: number): CreateDeploymentInput {
  return echoSpec(name, [], {}, { mode: 'isolated', isolated: { warm, max_sessions: maxSessions } });
}

/** Wait until the warm pool is full and no session holds a process, then give the new processes time to load. */
async function waitForPool(api: TestApi, id: string, warm: number, loadMs: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = await api.status(id);
    if (s.sessions === 0 && s.processes >= warm) break;
    if (Date.now() > deadline) throw new Error(`isolated warm pool did not refill to ${warm} within 30 s (processes ${s.processes}, sessions ${s.sessions})`);
    await sleep(100);
  }
  await sleep(loadMs);
}

export interface IsolatedResult {
  cells: CellResult[];
  /** Session opens one at a time from a full, loaded warm pool (reused connection), ms, sorted. */
  singleOpens: number[];
  /** Session opens `warm` at once from a full, loaded warm pool, ms, sorted. */
  burstOpens: number[];
  warmOpenErrors: number;
}

/**
 * Isolated mode: session opens from a full warm pool (one at a time, then `warm` at once; the pool
 * refills and its new processes load between rounds), then load cells no larger than the pool.
 */
export async function measureIsolated(
  api: TestApi,
  url: string,
  id: string,
  warm: number,
  cells: CellOptions[],
  rounds: { singles: number; bursts: number },
  loadMs: number,
): Promise<IsolatedResult> {
  const out: IsolatedResult = { cells: [], singleOpens: [], burstOpens: [], warmOpenErrors: 0 };
  const client = new McpClientPool(url, warm, api.authHeaders());
  try {
    const plan = [...Array<number>(rounds.singles).fill(1), ...Array<number>(rounds.bursts).fill(warm)];
    for (const n of plan) {
      await waitForPool(api, id, warm, loadMs);
      const opened = await openSessions(client, n, n);
      (n === 1 ? out.singleOpens : out.burstOpens).push(...opened.opens);
      out.warmOpenErrors += opened.errors;
      await closeSessions(client, opened.sessions, n);
    }
  } finally {
    await client.destroy();
  }
  out.singleOpens.sort((a, b) => a - b);
  out.burstOpens.sort((a, b) => a - b);
  for (const cell of cells) {
    await waitForPool(api, id, warm, loadMs);
    progress(`isolated C=${cell.concurrency}`);
    out.cells.push(await runCell(url, { ...cell, headers: api.authHeaders() }));
  }
  return out;
}

export interface MemoryResult {
  /** True when a full GC was forced (over the inspector) before each reading. */
  forcedGc: boolean;
  beforeKb: number;
  afterKb: number;
  heapBeforeKb: number;
  heapAfterKb: number;
  sessions: number;
  statusSessions: number;
  errors: number;
  kbPerSession: number;
  heapKbPerSession: number;
  /** A second batch of the same size on top of the first, as a check of the slope. */
  secondAfterKb: number;
  secondKbPerSession: number;
}

/**
 * A dedicated Berth (with the inspector on a loopback port, so the bench can force a full GC from outside)
 * and one shared stdio deployment: RSS and V8 heap before and after opening `n` idle sessions, then a second batch of n.
 */
export async function measureSessionMemory(n: number): Promise<MemoryResult> {
  const berth = await startBerth({ env: { ...BENCH_ENV, BERTH_MAX_SESSIONS: String(2 * n + 500), NODE_OPTIONS: '--inspect=127.0.0.1:0' } });
  const pid = berth.proc.pid!;
  let inspector: InspectorClient | null = null;
  try {
    const api = new TestApi(berth.url, berth.token);
    const dep = await deployAndWait(api, berth.url, echoSpec('bench-memory'));
    const wsUrl = InspectorClient.urlIn(berth.output());
    inspector = wsUrl ? await InspectorClient.connect(wsUrl).catch(() => null) : null;
    const pool = new McpClientPool(dep.url, 32, dep.headers);
    const all = [];
    const settle = async (): Promise<{ rss: number; heap: number }> => {
      await inspector?.collectGarbage();
      const rss = await settledRssKb(pid, 1500, 8000);
      return { rss, heap: inspector ? await inspector.heapUsedKb() : Number.NaN };
    };
    try {
      // Warm the connections and code paths first, so the delta is the sessions and not the sockets.
      const warmup = await openSessions(pool, 64, 32);
      all.push(...warmup.sessions);
      const before = await settle();
      const first = await openSessions(pool, n, 32);
      all.push(...first.sessions);
      const after = await settle();
      const statusSessions = (await api.status(dep.id)).sessions;
      const second = await openSessions(pool, n, 32);
      all.push(...second.sessions);
      const after2 = await settle();
      const count = Math.max(1, first.sessions.length);
      return {
        forcedGc: inspector !== null,
        beforeKb: before.rss,
        afterKb: after.rss,
        heapBeforeKb: before.heap,
        heapAfterKb: after.heap,
        sessions: first.sessions.length,
        statusSessions,
        errors: warmup.errors + first.errors + second.errors,
        kbPerSession: (after.rss - before.rss) / count,
        heapKbPerSession: (after.heap - before.heap) / count,
        secondAfterKb: after2.rss,
        secondKbPerSession: (after2.rss - after.rss) / Math.max(1, second.sessions.length),
      };
    } finally {
      await closeSessions(pool, all, 32);
      await pool.destroy();
    }
  } finally {
    inspector?.close();
    await disposeBerth(berth);
  }
}

export interface ExpiryResult {
  idleS: number;
  opened: number;
  sessionsAfterOpen: number;
  waitedMs: number;
  sessionsAfterWait: number;
  /** HTTP status an expired session gets for a tools/call (404 expected). */
  expiredStatus: number | string;
  pass: boolean;
}

/** A second, short-lived Berth with a tiny idle timeout: open n sessions, wait, check they were forgotten. */
export async function checkIdleExpiry(n: number, idleS: number, waitMs: number): Promise<ExpiryResult> {
  const berth = await startBerth({ env: { ...BENCH_ENV, BERTH_SESSION_IDLE_S: String(idleS), BERTH_MAX_SESSIONS: String(n + 100) } });
  try {
    const api = new TestApi(berth.url, berth.token);
    const dep = await deployAndWait(api, berth.url, echoSpec('bench-expiry'));
    const client = new McpClientPool(dep.url, 32, dep.headers);
    try {
      const opened = await openSessions(client, n, 32);
      const t0 = performance.now();
      const sessionsAfterOpen = (await api.status(dep.id)).sessions;
      await sleep(waitMs);
      const sessionsAfterWait = (await api.status(dep.id)).sessions;
      const waitedMs = performance.now() - t0;
      let expiredStatus: number | string = 'none opened';
      const probe = opened.sessions[0];
      if (probe) {
        expiredStatus = await client.echo(probe, 'late').then(
          () => 200,
          (err: Error) => /^HTTP (\d+)/.exec(err.message)?.[1] ?? err.message.slice(0, 60),
        );
        expiredStatus = Number(expiredStatus) || expiredStatus;
      }
      const pass = opened.sessions.length === n && sessionsAfterOpen > 0 && sessionsAfterWait === 0 && expiredStatus === 404;
      return { idleS, opened: opened.sessions.length, sessionsAfterOpen, waitedMs, sessionsAfterWait, expiredStatus, pass };
    } finally {
      await client.destroy();
    }
  } catch (err) {
    const exit = berth.proc.exitCode ?? berth.proc.signalCode;
    throw new Error(`idle expiry check failed: ${(err as Error).message}${exit === null ? '' : ` (Berth exited: ${exit})`}\n${berth.output().slice(-4000)}`, { cause: err });
  } finally {
    await disposeBerth(berth);
  }
}
