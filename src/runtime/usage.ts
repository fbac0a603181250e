/**
 * What a tree of host processes uses now, read from /proc: resident memory, CPU time and how many processes. The
 * process and local-http drivers measure their workloads with it (a workload's processes and everything they
 * started: bubblewrap, its init, the server and its children). A container's figures come from its engine instead.
 */
import { promises as fsp } from 'node:fs';
import type { WorkloadState, WorkloadStats } from './types.js';

/** Linux reports CPU times in USER_HZ ticks, 100 per second on every architecture's user ABI. */
const TICKS_PER_SECOND = 100;

export interface TreeUsage {
  memoryBytes: number;
  cpuSeconds: number;
  processes: number;
}

interface ProcTimes {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime (the last two: children it has reaped), in ticks. */
  ticks: number;
}

/** pid, ppid and CPU ticks from `/proc/<pid>/stat` (`comm` may hold spaces and parentheses: split after the last `)`). */
export function parseTimes(text: string): ProcTimes | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const pid = Number(text.slice(0, text.indexOf('(')).trim());
  // rest[0] is field 3 (state), so field N is rest[N - 3]: ppid 4, utime 14, stime 15, cutime 16, cstime 17.
  const rest = text.slice(close + 2).trim().split(/\s+/);
  const ppid = Number(rest[1]);
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(rest[i]), 0);
  if (!Number.isInteger(pid) || !Number.isFinite(ppid) || !Number.isFinite(ticks)) return null;
  return { pid, ppid, ticks };
}

async function readTimes(pid: number): Promise<ProcTimes | null> {
  try {
    return parseTimes(await fsp.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // gone meanwhile
  }
}

/** VmRSS of `/proc/<pid>/status` in bytes (0 for a kernel thread or a process gone meanwhile). */
async function residentBytes(pid: number): Promise<number> {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(await fsp.readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface ProcTable {
  byPid: Map<number, ProcTimes>;
  children: Map<number, number[]>;
}

/** Every process of the host with its parent and CPU ticks, read once; null when /proc cannot be read. */
async function procTable(): Promise<ProcTable | null> {
  let names: string[];
  try {
    names = await fsp.readdir('/proc');
  } catch {
    return null;
  }
  const all = (await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) => readTimes(Number(n))))).filter((t): t is ProcTimes => t !== null);
  const children = new Map<number, number[]>();
  for (const t of all) {
    const siblings = children.get(t.ppid);
    if (siblings) siblings.push(t.pid);
    else children.set(t.ppid, [t.pid]);
  }
  return { byPid: new Map(all.map((t) => [t.pid, t])), children };
}

async function usageIn(table: ProcTable | null, roots: readonly number[]): Promise<TreeUsage> {
  if (!table || roots.length === 0) return { memoryBytes: 0, cpuSeconds: 0, processes: 0 };
  const members = new Set<number>();
  const queue = roots.filter((p) => table.byPid.has(p));
  while (queue.length > 0) {
    const pid = queue.pop()!;
    if (members.has(pid)) continue;
    members.add(pid);
    queue.push(...(table.children.get(pid) ?? []));
  }
  const memory = await Promise.all([...members].map(residentBytes));
  const ticks = [...members].reduce((sum, pid) => sum + (table.byPid.get(pid)?.ticks ?? 0), 0);
  return { memoryBytes: memory.reduce((a, b) => a + b, 0), cpuSeconds: ticks / TICKS_PER_SECOND, processes: members.size };
}

/** The processes `roots` and all their descendants, summed. Roots that are gone count for nothing. */
export async function treeUsage(roots: readonly number[]): Promise<TreeUsage> {
  return usageIn(roots.length === 0 ? null : await procTable(), roots);
}

/** WorkloadRuntime.stats for drivers whose workloads are host processes: each revision's process trees, newest first. */
export async function processStats(states: readonly WorkloadState[]): Promise<WorkloadStats[]> {
  const live = states.filter((s) => s.pids.length > 0 && s.phase !== 'exited').sort((a, b) => b.revision - a.revision);
  // One read of /proc for every revision (two run side by side during a rollout).
  const table = live.length === 0 ? null : await procTable();
  return Promise.all(live.map(async (s) => ({ deploymentId: s.deploymentId, revision: s.revision, ...(await usageIn(table, s.pids)) })));
}
