import { existsSync, promises as fsp, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ServerLimits } from '../types.js';
import { safeKill, sleep } from './proc.js';

/**
 * One cgroup per server process, with memory, pids and CPU limits.
 *
 * cgroup v1 (separate hierarchies per controller, as on this machine class): the server's group
 * nests under Berth's own group in each of `memory`, `pids` and `cpu`, so the servers stay inside
 * whatever envelope the operator put Berth in. cgroup v2 forbids controllers below a group that
 * holds processes (Berth's own), so there the groups sit at the top of the hierarchy instead
 * (`<root>/berth-<scope>`), the way Docker's cgroupfs driver does it.
 */
export type CgroupVersion = 'cgroup-v1' | 'cgroup-v2';

export interface ServerCgroup {
  /** `cgroup.procs` files a launcher writes its own pid to before it execs the server. */
  readonly procsFiles: readonly string[];
  /** OOM kills inside this group so far. */
  oomKills(): Promise<number>;
  /** CPU periods in which the group was throttled (its CPU limit bit). */
  throttled(): Promise<number>;
  /** Kills whatever is left inside, then removes the group. Idempotent. */
  remove(): Promise<void>;
}

export interface Cgroups {
  readonly version: CgroupVersion;
  create(name: string, limits: ServerLimits): Promise<ServerCgroup>;
  /** Removes groups an earlier run left in this scope (killing what is in them), except `keep`. Returns their names. */
  reap(keep: ReadonlySet<string>): Promise<string[]>;
  /** Removes the scope folders when no group is left in them (Berth shutdown). */
  close(): Promise<void>;
}

const V2_ENABLE = '+memory +pids +cpu';
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;
const CPU_PERIOD_US = 100_000;
const MIB = 1024 * 1024;

/** `/proc/self/cgroup` → controller → path (`''` for the v2 unified line). */
export function parseSelfCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, ctrls = '', p = '/'] = m;
    if (ctrls === '') out.set('', p);
    for (const c of ctrls.split(',')) if (c) out.set(c, p);
  }
  return out;
}

function quota(cpus: number): number {
  return Math.max(1000, Math.round(cpus * CPU_PERIOD_US));
}

async function readCounter(file: string, key: string): Promise<number> {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(await fsp.readFile(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function writeIfPresent(file: string, value: string): Promise<void> {
  try {
    await fsp.writeFile(file, value);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** SIGKILLs everything in the groups and removes them, retrying while the kernel still tears processes down. */
async function destroy(dirs: readonly string[], killFile: string | null): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const left: string[] = [];
    for (const dir of dirs) {
      if (!existsSync(dir)) continue;
      if (killFile) await writeIfPresent(path.join(dir, killFile), '1').catch(() => {});
      const procs = await fsp.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const pid of procs.split('\n').filter(Boolean)) safeKill(Number(pid), 'SIGKILL');
      try {
        await fsp.rmdir(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT') left.push(dir);
      }
    }
    if (left.length === 0) return;
    await sleep(attempt < 20 ? 10 : 50);
  }
  throw new Error(`could not remove cgroup ${dirs.join(', ')}`);
}

class Group implements ServerCgroup {
  private removing: Promise<void> | null = null;
  constructor(
    readonly dirs: readonly string[],
    readonly procsFiles: readonly string[],
    private readonly oomFile: { file: string; key: string },
    private readonly cpuStat: string,
    private readonly killFile: string | null,
  ) {}

  oomKills(): Promise<number> {
    return readCounter(this.oomFile.file, this.oomFile.key);
  }

  throttled(): Promise<number> {
    return readCounter(this.cpuStat, 'nr_throttled');
  }

  remove(): Promise<void> {
    this.removing ??= destroy(this.dirs, this.killFile);
    return this.removing;
  }
}

/** cgroup v1: a group per controller hierarchy. */
class CgroupsV1 implements Cgroups {
  readonly version = 'cgroup-v1';
  constructor(private readonly bases: Record<(typeof V1_CONTROLLERS)[number], string>) {}

  async create(name: string, limits: ServerLimits): Promise<ServerCgroup> {
    for (const b of Object.values(this.bases)) await fsp.mkdir(b, { recursive: true });
    const dir = (c: (typeof V1_CONTROLLERS)[number]): string => path.join(this.bases[c], name);
    const all = V1_CONTROLLERS.map(dir);
    await destroy(all, null); // a leftover of the same name would carry old counters
    for (const d of all) await fsp.mkdir(d);
    const group = new Group(all, all.map((d) => path.join(d, 'cgroup.procs')), { file: path.join(dir('memory'), 'memory.oom_control'), key: 'oom_kill' }, path.join(dir('cpu'), 'cpu.stat'), null);
    try {
      const bytes = String(limits.memoryMb * MIB);
      await fsp.writeFile(path.join(dir('memory'), 'memory.limit_in_bytes'), bytes);
      // With swap accounting on, the same cap on memory+swap: no escape into swap.
      await writeIfPresent(path.join(dir('memory'), 'memory.memsw.limit_in_bytes'), bytes);
      await fsp.writeFile(path.join(dir('pids'), 'pids.max'), String(limits.pids));
      await fsp.writeFile(path.join(dir('cpu'), 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      await fsp.writeFile(path.join(dir('cpu'), 'cpu.cfs_quota_us'), String(quota(limits.cpus)));
    } catch (err) {
      await group.remove().catch(() => {});
      throw err;
    }
    return group;
  }

  reap(keep: ReadonlySet<string>): Promise<string[]> {
    return reapIn(Object.values(this.bases), keep, (name) => V1_CONTROLLERS.map((c) => path.join(this.bases[c], name)), null);
  }

  close(): Promise<void> {
    return removeEmpty(Object.values(this.bases));
  }
}

/** cgroup v2: one unified group. */
class CgroupsV2 implements Cgroups {
  readonly version = 'cgroup-v2';
  constructor(private readonly base: string) {}

  async create(name: string, limits: ServerLimits): Promise<ServerCgroup> {
    if (!existsSync(this.base)) {
      await fsp.mkdir(this.base, { recursive: true });
      await fsp.writeFile(path.join(this.base, 'cgroup.subtree_control'), V2_ENABLE);
    }
    const dir = path.join(this.base, name);
    await destroy([dir], 'cgroup.kill');
    await fsp.mkdir(dir);
    const group = new Group([dir], [path.join(dir, 'cgroup.procs')], { file: path.join(dir, 'memory.events'), key: 'oom_kill' }, path.join(dir, 'cpu.stat'), 'cgroup.kill');
    try {
      await fsp.writeFile(path.join(dir, 'memory.max'), String(limits.memoryMb * MIB));
      await writeIfPresent(path.join(dir, 'memory.swap.max'), '0');
      await fsp.writeFile(path.join(dir, 'pids.max'), String(limits.pids));
      await fsp.writeFile(path.join(dir, 'cpu.max'), `${quota(limits.cpus)} ${CPU_PERIOD_US}`);
    } catch (err) {
      await group.remove().catch(() => {});
      throw err;
    }
    return group;
  }

  reap(keep: ReadonlySet<string>): Promise<string[]> {
    return reapIn([this.base], keep, (name) => [path.join(this.base, name)], 'cgroup.kill');
  }

  close(): Promise<void> {
    return removeEmpty([this.base]);
  }
}

/** rmdir that leaves a folder alone while groups are still in it. */
async function removeEmpty(dirs: readonly string[]): Promise<void> {
  await Promise.all(dirs.map((d) => fsp.rmdir(d).catch(() => {})));
}

/** Makes `dir` (and missing parents) and removes what it made: proves the hierarchy is writable without leaving anything. */
function probe(dir: string): void {
  const made = mkdirSync(dir, { recursive: true });
  if (made === undefined) return;
  for (let d = dir; d.length >= made.length; d = path.dirname(d)) rmdirSync(d);
}

async function reapIn(bases: readonly string[], keep: ReadonlySet<string>, dirsOf: (name: string) => string[], killFile: string | null): Promise<string[]> {
  const names = new Set<string>();
  for (const b of bases) {
    const entries = await fsp.readdir(b, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory() && !keep.has(e.name)) names.add(e.name);
  }
  for (const n of names) await destroy(dirsOf(n), killFile);
  return [...names];
}

export interface CgroupOptions {
  /** Where the hierarchies are mounted (default /sys/fs/cgroup). */
  root: string;
  /** Folder name that keeps this Berth's groups apart from another's (e.g. `berth-<hash of data dir>`). */
  scope: string;
  /** Contents of /proc/self/cgroup (tests pass their own). */
  selfCgroup?: string;
}

/** Sets up the scope folder(s) and returns the driver, or why cgroups cannot be used here. Synchronous: runs once at start. */
export function openCgroups(opts: CgroupOptions): Cgroups | { unavailable: string } {
  let self: Map<string, string>;
  try {
    self = parseSelfCgroup(opts.selfCgroup ?? readFileSync('/proc/self/cgroup', 'utf8'));
  } catch (err) {
    return { unavailable: `cannot read /proc/self/cgroup (${(err as Error).message})` };
  }
  const unified = path.join(opts.root, 'cgroup.controllers');
  try {
    if (existsSync(unified)) {
      const have = readFileSync(unified, 'utf8').trim().split(/\s+/);
      const missing = ['memory', 'pids', 'cpu'].filter((c) => !have.includes(c));
      if (missing.length > 0) return { unavailable: `cgroup v2 lacks the controllers ${missing.join(', ')}` };
      writeFileSync(path.join(opts.root, 'cgroup.subtree_control'), V2_ENABLE);
      const base = path.join(opts.root, opts.scope);
      probe(base);
      return new CgroupsV2(base);
    }
    const bases = {} as Record<(typeof V1_CONTROLLERS)[number], string>;
    for (const c of V1_CONTROLLERS) {
      const mount = path.join(opts.root, c);
      if (!existsSync(path.join(mount, 'cgroup.procs'))) return { unavailable: `no cgroup v1 '${c}' hierarchy at ${mount}` };
      bases[c] = path.join(mount, self.get(c) ?? '/', opts.scope);
      probe(bases[c]);
    }
    return new CgroupsV1(bases);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { unavailable: `cgroups under ${opts.root} are not writable (${e.code ?? e.message})` };
  }
}
