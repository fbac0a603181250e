import { promises as fsp } from 'node:fs';

/** What `/proc/<pid>/stat` says about one process. */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  /** Field 22: start time in clock ticks since boot; with the pid it identifies one process. */
  startTime: string;
}

/** Parses `/proc/<pid>/stat`; `comm` may hold spaces and parentheses, so split after the last `)`. */
export function parseStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const startTime = rest[19];
  if (state === undefined || startTime === undefined || !Number.isFinite(ppid) || !Number.isFinite(pgrp)) return null;
  return { pid: Number(text.slice(0, open).trim()), comm: text.slice(open + 1, close), state, ppid, pgrp, startTime };
}

export async function readStat(pid: number): Promise<ProcStat | null> {
  try {
    return parseStat(await fsp.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** True while the process exists and is not a zombie (a zombie has exited; only its parent's wait is missing). */
export async function isRunning(pid: number, startTime?: string): Promise<boolean> {
  const st = await readStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}

/** Every live process whose process group is `pgid`. */
export async function groupMembers(pgid: number): Promise<ProcStat[]> {
  let names: string[];
  try {
    names = await fsp.readdir('/proc');
  } catch {
    return [];
  }
  const out: ProcStat[] = [];
  await Promise.all(
    names
      .filter((n) => /^\d+$/.test(n))
      .map(async (n) => {
        const st = await readStat(Number(n));
        if (st && st.pgrp === pgid && st.state !== 'Z') out.push(st);
      }),
  );
  return out;
}

/** kill(2) that ignores "no such process". */
export function safeKill(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * Signals a process group. With `spare` (used for bubblewrap), members whose command name is in
 * `spare` are skipped: bwrap itself dies on SIGTERM and would take the sandbox down with SIGKILL
 * (--die-with-parent) before the server could shut down cleanly; signalling only the server lets it
 * exit on its own, after which bwrap exits with its status.
 */
export async function signalGroup(pgid: number, signal: NodeJS.Signals, spare: readonly string[] = []): Promise<void> {
  if (spare.length === 0) {
    safeKill(-pgid, signal);
    return;
  }
  for (const m of await groupMembers(pgid)) {
    if (!spare.includes(m.comm)) safeKill(m.pid, signal);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until `pid` (with `startTime`) is gone or `timeoutMs` passes; true when gone. */
export async function waitGone(pid: number, startTime: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await isRunning(pid, startTime))) return true;
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
}
