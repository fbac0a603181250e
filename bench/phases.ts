import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CreateDeploymentInput } from '../src/core/index.js';
import { TestApi } from '../test/support/api.js';
import { ROOT, startBerth } from '../test/support/berth-process.js';
import { echoSpec } from '../test/support/servers.js';
import { McpClientPool, closeSessions, openSessions, type CellOptions, type CellResult, runCell } from './load.js';
import { settledRssKb } from './procs.js';

/** Phases beyond the plain load cells: isolated warm pool, memory per session, idle expiry. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const BENCH_ENV = { BERTH_SANDBOX: 'none', BERTH_LOG_LEVEL: 'warn' };

/** Log progress to stderr (the report goes to stdout). */
export const progress = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

/** Deploy and wait until it serves; returns the deployment's MCP endpoint on `base`. */
export async function deployAndWait(api: TestApi, base: string, input: CreateDeploymentInput): Promise<{ id: string; url: string }> {
  const view = await api.deploy(input);
  await api.waitFor(view.id, 'running', 60_000);
  return { id: view.id, url: `${base}/s/${view.id}/mcp` };
}

export function isolatedEchoSpec(name: string, warm: number, maxSessions: number): CreateDeploymentInput {
  return {
    name,
    spec: {
      type: 'process',
      command: process.execPath,
      args: [join(ROOT, 'test/fixtures/mcp-echo-server.mjs')],
      env: {},
      cwd: ROOT,
      mode: 'isolated',
      isolated: { warm, max_sessions: maxSessions },
    },
  };
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
  /** Session opens served from a full, loaded warm pool (bursts of `warm` at once), ms, sorted. */
  warmOpens: number[];
  warmOpenErrors: number;
}

/** Isolated mode: bursts of `warm` session opens from a full pool, then load cells no larger than the pool. */
export async function measureIsolated(api: TestApi, url: string, id: string, warm: number, cells: CellOptions[], bursts: number): Promise<IsolatedResult> {
  const out: IsolatedResult = { cells: [], warmOpens: [], warmOpenErrors: 0 };
  const loadMs = 2000;
  for (let b = 0; b < bursts; b++) {
    await waitForPool(api, id, warm, loadMs);
    const client = new McpClientPool(url, warm);
    try {
      const opened = await openSessions(client, warm, warm);
      out.warmOpens.push(...opened.opens);
      out.warmOpenErrors += opened.errors;
      await closeSessions(client, opened.sessions, warm);
    } finally {
      await client.destroy();
    }
  }
  out.warmOpens.sort((a, b) => a - b);
  for (const cell of cells) {
    await waitForPool(api, id, warm, loadMs);
    progress(`isolated C=${cell.concurrency}`);
    out.cells.push(await runCell(url, cell));
  }
  return out;
}

export interface MemoryResult {
  beforeKb: number;
  afterKb: number;
  sessions: number;
  statusSessions: number;
  errors: number;
  kbPerSession: number;
  /** A second batch of the same size on top of the first, as a check of the slope. */
  secondAfterKb: number;
  secondKbPerSession: number;
}

/** Berth's RSS before and after opening `n` idle sessions on a deployment (then a second batch of n). */
export async function measureSessionMemory(api: TestApi, url: string, id: string, berthPid: number, n: number): Promise<MemoryResult> {
  const client = new McpClientPool(url, 32);
  const all = [];
  try {
    // Warm the connections and code paths first, so the delta is the sessions and not the sockets.
    const warmup = await openSessions(client, 64, 32);
    all.push(...warmup.sessions);
    const beforeKb = await settledRssKb(berthPid, 2000, 8000);
    const first = await openSessions(client, n, 32);
    all.push(...first.sessions);
    const afterKb = await settledRssKb(berthPid, 2000, 8000);
    const statusSessions = (await api.status(id)).sessions;
    const second = await openSessions(client, n, 32);
    all.push(...second.sessions);
    const secondAfterKb = await settledRssKb(berthPid, 2000, 8000);
    return {
      beforeKb,
      afterKb,
      sessions: first.sessions.length,
      statusSessions,
      errors: warmup.errors + first.errors + second.errors,
      kbPerSession: (afterKb - beforeKb) / Math.max(1, first.sessions.length),
      secondAfterKb,
      secondKbPerSession: (secondAfterKb - afterKb) / Math.max(1, second.sessions.length),
    };
  } finally {
    await closeSessions(client, all, 32);
    await client.destroy();
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
    const api = new TestApi(berth.url);
    const dep = await deployAndWait(api, berth.url, echoSpec('bench-expiry'));
    const client = new McpClientPool(dep.url, 32);
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
  } finally {
    await berth.dispose();
  }
}
