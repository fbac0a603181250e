import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../test/support/berth-process.js';

export interface HttpServerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Start test/fixtures/mcp-http-server.mjs on a free 127.0.0.1 port and wait for its `listening PORT` line.
 * `jsonResponse` answers POSTs with application/json instead of the SDK's default SSE stream.
 */
export async function startHttpServer(opts: { jsonResponse?: boolean; timeoutMs?: number } = {}): Promise<HttpServerProcess> {
  const child = await startListening('http-server', [join(ROOT, 'test/fixtures/mcp-http-server.mjs')], { BENCH_PORT: '0', BENCH_JSON_RESPONSE: opts.jsonResponse ? '1' : '0' }, opts.timeoutMs);
  return { ...child, url: `http://127.0.0.1:${child.port}/mcp` };
}

/**
 * Start a Node.js process (`args` after the node binary, run in ROOT) that prints `listening PORT`
 * once it accepts connections on 127.0.0.1, and wait for that line. Its stdin stays open as a
 * lifeline: it exits when that closes (if this process dies).
 */
export async function startListening(name: string, args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${name} did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const done = (err: Error | null, p = 0) => {
      clearTimeout(timer);
      proc.stdout!.off('data', onData);
      proc.off('exit', onExit);
      if (err) reject(err);
      else resolve(p);
    };
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) done(null, Number(m[1]));
    };
    const onExit = (code: number | null) => done(new Error(`${name} exited with ${code} before listening:\n${out}`));
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    proc.once('exit', onExit);
  }).catch(async (err: unknown) => {
    await stopChild(proc, exited);
    throw err;
  });
  return { port, pid: proc.pid ?? -1, stop: () => stopChild(proc, exited) };
}

async function stopChild(proc: ChildProcess, exited: Promise<void>): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Resident set size of a process in KiB (VmRSS from /proc), or NaN when it cannot be read. */
export function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * RSS once it has settled: sampled every 250 ms until five samples in a row lie within 1%
 * (after at least `minMs`), or `maxMs` passed; returns the last sample.
 */
export async function settledRssKb(pid: number, minMs = 1000, maxMs = 6000): Promise<number> {
  const start = Date.now();
  const window: number[] = [];
  for (;;) {
    const kb = rssKb(pid);
    window.push(kb);
    if (window.length > 5) window.shift();
    const elapsed = Date.now() - start;
    const flat = window.length === 5 && Math.max(...window) - Math.min(...window) <= Math.max(...window) * 0.01;
    if ((flat && elapsed >= minMs) || elapsed >= maxMs || Number.isNaN(kb)) return kb;
    await sleep(250);
  }
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU time (user + system) a process has used so far, in ms; NaN when it cannot be read. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ", fields[0] is the state (stat field 3): utime and stime are fields 14 and 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks();
  } catch {
    return Number.NaN;
  }
}

/** Pids of the direct children of `ppid` whose command line contains `marker`. */
export function childPids(ppid: number, marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === ppid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) out.push(Number(entry));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}
