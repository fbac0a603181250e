import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, promises as fsp, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { IsolationView, LimitEnforcer, LimitName } from '../../core/isolation.js';
import type { ExitInfo, LaunchPolicy, LaunchRequest, Runtime, RuntimeLog, ServerLimits, StdioProcess } from '../types.js';
import { openCgroups, type Cgroups, type ServerCgroup } from './cgroups.js';
import { BLOCK_FD, ensureOwnDir, INFO_FD, release, sandboxPidOf, waitExit } from './child-io.js';
import { ProcessHandle } from './handle.js';
import { eachLine } from '../../core/lines.js';
import { MountGuard, type OpenedMount } from './mounts.js';
import { attachEgress, blockedRanges, egressPrefix, findEgressTools, pickSlirpNet, type EgressHelper, type EgressTools, type SlirpNet } from './network.js';
import { listPidFiles, pidFilePath, removePidFile, writePidFile, type PidFile } from './pidfile.js';
import { admitPolicy, checkNetwork, DEFAULT_MAX_LIMITS, DEFAULT_SERVER_LIMITS, isolationView, resolveLimits, type PolicyFacts } from './policy.js';
import { readStat, safeKill, signalGroup, waitGone } from './proc.js';
import { DEFAULT_PATH, bwrapArgs, pathsHiddenBySandbox, prlimitArgs, resolveCommand, type RlimitSpec, type SandboxLayout } from './sandbox.js';

export type SandboxMode = 'auto' | 'bubblewrap' | 'none';
/** How limits are enforced: `auto` = cgroups when writable, else prlimit; `cgroup` = required. */
export type LimitsMode = 'auto' | 'cgroup' | 'prlimit';

export interface ProcessRuntimeOptions {
  /** Berth's data dir (absolute): pid files go to `run/`, default working dirs to `work/<deploymentId>/`. */
  dataDir: string;
  logs: RuntimeLog;
  /** `auto`: bubblewrap when `bwrap` is found, else none. `bubblewrap`: required (throws when missing). */
  sandbox: SandboxMode;
  /** Per-server limits: defaults for a launch that names none, and the most one may ask for. */
  limits?: { defaults?: Partial<ServerLimits>; max?: Partial<ServerLimits>; mode?: LimitsMode; nofile?: number };
  /** Where cgroup hierarchies are mounted (default /sys/fs/cgroup). */
  cgroupRoot?: string;
  /** Folders a launch's cwd and mounts must lie under (BERTH_MOUNT_ROOTS). Default: none. */
  mountRoots?: string[];
  /** Paths no cwd or mount may touch besides the data dir: the database, the master key file. */
  forbiddenPaths?: string[];
  /** Folders under the data dir that launches may bind read-only as `internalMounts` (the package cache's entries). */
  internalRoots?: string[];
  /** May a launch ask for `network: "host"`? Default `deny`. */
  hostNetwork?: 'allow' | 'deny';
  /** Default grace between SIGTERM and SIGKILL. */
  stopGraceMs?: number;
  /** Where to look for `bwrap`, `prlimit`, `slirp4netns`, … (default: the standard system dirs). */
  hostPath?: string;
}

/** A live process found from its pid file (ProcessRuntime.found). */
export interface FoundProcess {
  deploymentId: string;
  instanceKey: string;
  pid: number;
  labels: Record<string, string>;
  /** Started by this runtime instance (false: left by a previous Berth). */
  mine: boolean;
}

/** Launch failures (command missing, bad cwd, spawn error); `code` is the errno when there is one. */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'LaunchError';
  }
}

const NAME_PART = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
/** Joins the cgroups named before `--`, then execs the rest: the server is inside before it can fork. */
const ENTER_CGROUP = 'n=0; for f; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; n=$((n+1)); done; shift $((n+1)); exec "$@"';

function fail(msg: string): never {
  throw new Error(`ProcessRuntime: ${msg}`);
}

function checkPositive(name: string, v: unknown, integer = true): void {
  if (v !== undefined && (typeof v !== 'number' || !(v > 0) || (integer && !Number.isInteger(v)))) fail(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`);
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process';
  /** What `sandbox: 'auto'` resolved to. */
  readonly sandbox: 'bubblewrap' | 'none';
  /** What enforces memory/pids/CPU limits here. */
  readonly limitsEnforcedBy: LimitEnforcer;
  private readonly dataDir: string;
  private readonly runDir: string;
  private readonly logs: RuntimeLog;
  private readonly stopGraceMs: number;
  private readonly bwrap: string | null;
  private readonly prlimit: string | null;
  private readonly sh: string | null;
  private readonly nofile: number | undefined;
  private readonly cgroups: Cgroups | null;
  private readonly egress: { tools: EgressTools; net: SlirpNet } | null;
  private readonly facts: PolicyFacts;
  private readonly startNotices: string[] = [];
  private readonly live = new Map<string, ProcessHandle>();
  /** Launches in progress (stopAll waits for them). */
  private readonly launching = new Set<Promise<StdioProcess>>();
  private stopping = false;

  constructor(opts: ProcessRuntimeOptions) {
    if (typeof opts !== 'object' || opts === null) fail('options are required');
    if (typeof opts.dataDir !== 'string' || !path.isAbsolute(opts.dataDir)) fail(`dataDir must be an absolute path, got ${JSON.stringify(opts.dataDir)}`);
    if (!opts.logs || typeof opts.logs.append !== 'function') fail('logs must be a LogStore');
    if (!['auto', 'bubblewrap', 'none'].includes(opts.sandbox)) fail(`sandbox must be 'auto', 'bubblewrap' or 'none', got ${JSON.stringify(opts.sandbox)}`);
    const grace = opts.stopGraceMs ?? 5000;
    if (!Number.isInteger(grace) || grace < 0) fail(`stopGraceMs must be a non-negative integer, got ${String(opts.stopGraceMs)}`);
    const lim = opts.limits ?? {};
    if (typeof lim !== 'object' || lim === null) fail('limits must be an object');
    const defaults = { ...DEFAULT_SERVER_LIMITS, ...lim.defaults };
    const max = { ...DEFAULT_MAX_LIMITS, ...lim.max };
    for (const [k, v] of Object.entries(defaults)) checkPositive(`limits.defaults.${k}`, v, k !== 'cpus');
    for (const [k, v] of Object.entries(max)) checkPositive(`limits.max.${k}`, v, k !== 'cpus');
    for (const k of Object.keys(defaults) as (keyof ServerLimits)[]) if (defaults[k] > max[k]) fail(`limits.defaults.${k} (${defaults[k]}) is above limits.max.${k} (${max[k]})`);
    checkPositive('limits.nofile', lim.nofile);
    const mode = lim.mode ?? 'auto';
    if (!['auto', 'cgroup', 'prlimit'].includes(mode)) fail(`limits.mode must be 'auto', 'cgroup' or 'prlimit', got ${JSON.stringify(mode)}`);
    const hostNetwork = opts.hostNetwork ?? 'deny';
    if (hostNetwork !== 'allow' && hostNetwork !== 'deny') fail(`hostNetwork must be 'allow' or 'deny', got ${JSON.stringify(hostNetwork)}`);
    const hostPath = opts.hostPath ?? DEFAULT_PATH;
    this.dataDir = opts.dataDir;
    this.runDir = path.join(opts.dataDir, 'run');
    this.logs = opts.logs;
    this.stopGraceMs = grace;
    this.nofile = lim.nofile;

    const bwrap = opts.sandbox === 'none' ? null : resolveCommand('bwrap', hostPath, '/');
    if (opts.sandbox === 'bubblewrap' && !bwrap) {
      fail(`sandbox 'bubblewrap' needs the bwrap binary, which is not on ${hostPath} (install the 'bubblewrap' package, or use sandbox 'auto' or 'none')`);
    }
    this.bwrap = bwrap;
    this.sandbox = bwrap ? 'bubblewrap' : 'none';
    if (!bwrap) this.startNotices.push(`servers run WITHOUT a sandbox (${opts.sandbox === 'none' ? 'BERTH_SANDBOX=none' : 'bubblewrap is not installed'}): they can read and write the host's files, including Berth's data, and reach Berth and the whole network; spec.network and mounts are not enforced`);

    let egressMissing: string[] | null = null;
    this.egress = null;
    if (bwrap) {
      const tools = findEgressTools(hostPath);
      if ('missing' in tools) {
        egressMissing = tools.missing;
        this.startNotices.push(`network "egress" is unavailable (missing ${tools.missing.join(', ')}: install the Debian packages slirp4netns, iproute2, util-linux); deployments that ask for it are refused`);
      } else {
        this.egress = { tools, net: pickSlirpNet() };
      }
    }

    this.sh = resolveCommand('sh', hostPath, '/');
    const scope = `berth-${createHash('sha256').update(opts.dataDir).digest('hex').slice(0, 12)}`;
    let cgroups: Cgroups | null = null;
    if (mode !== 'prlimit') {
      const opened = this.sh ? openCgroups({ root: opts.cgroupRoot ?? '/sys/fs/cgroup', scope }) : { unavailable: 'no sh to enter them with' };
      if ('unavailable' in opened) {
        if (mode === 'cgroup') fail(`limits.mode 'cgroup' but cgroups cannot be used: ${opened.unavailable}`);
        this.startNotices.push(`cgroups cannot be used (${opened.unavailable}): server limits fall back to prlimit (memory as RLIMIT_DATA; no CPU limit; the process limit is per user and not enforced for root)`);
      } else {
        cgroups = opened;
      }
    }
    this.cgroups = cgroups;
    this.prlimit = resolveCommand('prlimit', hostPath, '/');
    const needsPrlimit = !cgroups || lim.nofile !== undefined;
    if (needsPrlimit && !this.prlimit) {
      if (lim.nofile !== undefined || mode === 'prlimit') fail(`limits need the prlimit binary (util-linux), which is not on ${hostPath}`);
      this.startNotices.push('neither cgroups nor prlimit are available: server limits are NOT enforced');
    }
    const unenforced: LimitName[] = [];
    let enforcer: LimitEnforcer;
    if (cgroups) enforcer = cgroups.version;
    else if (this.prlimit) {
      enforcer = 'prlimit';
      unenforced.push('cpus');
      if (process.getuid?.() === 0) unenforced.push('pids');
    } else {
      enforcer = 'none';
      unenforced.push('memory_mb', 'pids', 'cpus');
    }
    this.limitsEnforcedBy = enforcer;
    const forbidden = [opts.dataDir, ...(opts.forbiddenPaths ?? [])];
    this.facts = {
      sandbox: this.sandbox,
      hostNetwork,
      egressMissing,
      defaults,
      max,
      enforcer,
      unenforced,
      guard: new MountGuard({ roots: opts.mountRoots ?? [], forbidden, internal: opts.internalRoots ?? [] }),
    };
  }

  admit(policy: LaunchPolicy): void {
    admitPolicy(policy, this.facts);
  }

  isolation(policy: LaunchPolicy): IsolationView {
    return isolationView(policy, this.facts);
  }

  notices(): string[] {
    return [...this.startNotices];
  }

  async launch(req: LaunchRequest): Promise<StdioProcess> {
    if (this.stopping) throw new LaunchError(`Cannot start "${req.command}": Berth is stopping`);
    const launching = this.start(req);
    this.launching.add(launching);
    void launching.then(
      () => this.launching.delete(launching),
      () => this.launching.delete(launching),
    );
    return launching;
  }

  private async start(req: LaunchRequest): Promise<StdioProcess> {
    if (!NAME_PART.test(req.deploymentId)) throw new LaunchError(`invalid deploymentId ${JSON.stringify(req.deploymentId)}`);
    if (!NAME_PART.test(req.instanceKey)) throw new LaunchError(`invalid instanceKey ${JSON.stringify(req.instanceKey)}`);
    if (typeof req.command !== 'string' || req.command === '') throw new LaunchError('command must be a non-empty string');
    const key = `${req.deploymentId}.${req.instanceKey}`;
    if (this.live.has(key)) throw new LaunchError(`${key} is already running (pid ${this.live.get(key)?.pid})`);
    const network = req.network ?? 'egress';
    checkNetwork(network, this.facts);
    const limits = resolveLimits(req.limits, this.facts);

    const workDir = path.join(this.dataDir, 'work', req.deploymentId);
    const home = path.join(workDir, 'home');
    await ensureOwnDir(home);
    await fsp.mkdir(this.runDir, { recursive: true });

    // Checked and held open until spawned: the sandbox binds exactly what was checked.
    const opened: (OpenedMount & { mode: 'ro' | 'rw' })[] = [];
    let cgroup: ServerCgroup | null = null;
    let child: ChildProcess;
    let cwd: string;
    let layout: SandboxLayout;
    const env: Record<string, string> = { ...req.env };
    try {
      let hostCwd = workDir;
      cwd = workDir;
      if (req.cwd !== undefined) {
        const m = this.openMount(req.cwd, 'cwd');
        opened.push({ ...m, mode: 'rw' });
        cwd = m.dest;
        hostCwd = m.real;
      } else if (req.workspace !== undefined) {
        // Berth's own folder (a source revision's workspace): checked as an internal mount, shown read-only to the
        // server; read-write only to the install/build step Berth runs in it (workspaceMode 'rw').
        const m = this.openMount(req.workspace, 'workspace', true);
        opened.push({ ...m, mode: req.workspaceMode === 'rw' ? 'rw' : 'ro' });
        cwd = m.dest;
        hostCwd = m.real;
      }
      for (const [i, m] of (req.mounts ?? []).entries()) opened.push({ ...this.openMount(m.path, `mounts[${i}]`), mode: m.mode });
      for (const p of req.internalMounts ?? []) opened.push({ ...this.openMount(p, 'internal', true), mode: 'ro' });
      if ((req.cwd !== undefined || req.workspace !== undefined) && !(await fsp.stat(opened[0]!.real)).isDirectory()) {
        throw new LaunchError(`Cannot start "${req.command}": working directory ${cwd} is not a directory`, 'ENOTDIR');
      }

      env.PATH ??= `${path.dirname(process.execPath)}:${DEFAULT_PATH}`;
      // In the sandbox only the per-deployment HOME is writable and visible, so it always wins there.
      if (this.bwrap || env.HOME === undefined) env.HOME = home;
      const found = resolveCommand(req.command, env.PATH, cwd);
      if (!found) throw new LaunchError(`Cannot start "${req.command}": command not found (searched PATH=${env.PATH})`, 'ENOENT');

      const sandboxed = this.bwrap !== null;
      const egress = sandboxed && network === 'egress' ? this.egress : null;
      layout = {
        cwd,
        home,
        executable: found,
        own: req.cwd === undefined && req.workspace === undefined ? [workDir] : [home],
        fdBinds: opened.map((m, i) => ({ fd: BLOCK_FD + 1 + i, dest: m.dest, mode: m.mode })),
        network,
        ...(egress ? { resolvConf: this.resolvConf(egress.net), infoFd: INFO_FD, blockFd: BLOCK_FD } : {}),
      };
      let argv = [found, ...req.args];
      const rl: RlimitSpec = { nofile: this.nofile, ...(this.cgroups ? {} : { dataMb: limits.memoryMb, nproc: limits.pids }) };
      if (this.prlimit && prlimitArgs(rl).length > 0) argv = [this.prlimit, ...prlimitArgs(rl), '--', ...argv];
      if (this.bwrap) argv = [this.bwrap, ...bwrapArgs(layout), '--', ...argv];
      if (egress) argv = [...egressPrefix(egress.tools), ...argv];
      if (this.cgroups) {
        cgroup = await this.cgroups.create(key, limits);
        argv = [this.sh!, '-c', ENTER_CGROUP, 'berth-cgroup', ...cgroup.procsFiles, '--', ...argv];
      }
      // fds 3 and 4 exist only for egress: anything else handed to bwrap would leak into the server.
      const stdio: StdioOptions = sandboxed ? ['pipe', 'pipe', 'pipe', egress ? 'pipe' : 'ignore', egress ? 'pipe' : 'ignore', ...opened.map((m) => m.fd)] : ['pipe', 'pipe', 'pipe'];
      const [file, ...args] = argv as [string, ...string[]];
      child = spawn(file, args, { env, cwd: hostCwd, stdio, detached: true });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', (err: NodeJS.ErrnoException) => reject(new LaunchError(`Cannot start "${req.command}": ${err.message}`, err.code)));
      });
    } catch (err) {
      await cgroup?.remove().catch(() => {});
      throw err;
    } finally {
      for (const m of opened) closeSync(m.fd);
    }

    const pid = child.pid as number;
    const tag = `[${req.instanceKey}]`;
    // bwrap's info and go-signal sockets: their errors (a reset when bwrap exits) are not the server's.
    for (const fd of [INFO_FD, BLOCK_FD]) (child.stdio[fd] as Readable | null)?.on('error', () => {});
    eachLine(child.stderr!, (line) => this.logs.append(req.deploymentId, 'stderr', line));
    let helper: EgressHelper | null = null;
    if (this.bwrap && network === 'egress' && this.egress) {
      try {
        const t0 = Date.now();
        const sandboxPid = await sandboxPidOf(child);
        helper = await attachEgress({ tools: this.egress.tools, sandboxPid, net: this.egress.net, blocked: blockedRanges(this.egress.net) });
        (child.stdio[INFO_FD] as Readable).destroy();
        await release(child.stdio[BLOCK_FD] as Writable);
        this.logs.append(req.deploymentId, 'system', `${tag} network egress ready in ${Date.now() - t0} ms (slirp4netns pid ${helper.pid})`);
      } catch (err) {
        safeKill(-pid, 'SIGKILL');
        await waitExit(child);
        await cgroup?.remove().catch(() => {});
        throw new LaunchError(`Cannot start "${req.command}": the sandbox's network could not be set up: ${(err as Error).message}`);
      }
    }

    const commandLine = [req.command, ...req.args].join(' ');
    const pidFile = pidFilePath(this.runDir, req.deploymentId, req.instanceKey);
    const how = `sandbox ${this.sandbox}${this.bwrap ? `, network ${network}` : ''}, limits ${limits.memoryMb} MiB/${limits.pids} pids/${limits.cpus} cpu by ${this.limitsEnforcedBy}`;
    this.logs.append(req.deploymentId, 'system', `${tag} started pid ${pid} (${how}): ${commandLine}`);
    if (this.bwrap) {
      for (const hidden of pathsHiddenBySandbox(req.args, layout)) {
        this.logs.append(req.deploymentId, 'system', `${tag} warning: ${hidden} is outside what the sandboxed server can see (system folders, its working folder ${cwd}, its HOME, its mounts): deploy with --cwd set to its folder (spec.cwd) or --mount it (spec.mounts), or run Berth with BERTH_SANDBOX=none`);
      }
    }
    const handle = new ProcessHandle(child, this.bwrap !== null, this.stopGraceMs, async (info: ExitInfo) => {
      this.live.delete(key);
      await helper?.stop();
      let reason: string | undefined;
      if (cgroup) {
        if ((await cgroup.oomKills()) > 0) reason = `out of memory: killed at the ${limits.memoryMb} MiB limit`;
        await cgroup.remove().catch((err: unknown) => this.logs.append(req.deploymentId, 'system', `${tag} warning: ${(err as Error).message}`));
      }
      const ended = info.signal ? `signal ${info.signal}` : `code ${info.code}`;
      this.logs.append(req.deploymentId, 'system', `${tag} exited with ${ended} (pid ${pid})${reason ? `: ${reason}` : ''}`);
      await removePidFile(pidFile);
      return reason;
    });
    this.live.set(key, handle);

    const stat = await readStat(pid);
    const data: PidFile = {
      pid,
      startTime: stat?.startTime ?? '',
      command: commandLine,
      deploymentId: req.deploymentId,
      instanceKey: req.instanceKey,
      sandbox: this.sandbox,
      ...(req.labels ? { labels: req.labels } : {}),
    };
    // Unless it already exited, in which case the exit handler has (or will) clean up.
    if (this.live.get(key) === handle) await writePidFile(pidFile, data);
    if (this.live.get(key) !== handle) await removePidFile(pidFile);
    return handle;
  }

  async stopAll(graceMs: number = this.stopGraceMs): Promise<void> {
    // No new process from here on, and the ones being started are waited for, so none escapes the stop.
    this.stopping = true;
    await Promise.allSettled([...this.launching]);
    await Promise.all([...this.live.values()].map((h) => h.stop(graceMs)));
    // A group still in Berth's scope now belongs to no process Berth knows: end what is in it, remove it.
    await this.cgroups?.reap(new Set());
    await this.cgroups?.close();
  }

  async reapOrphans(): Promise<{ deploymentId: string; instanceKey: string; pid: number }[]> {
    const mine = new Set([...this.live.values()].map((h) => h.pid));
    const ended: { deploymentId: string; instanceKey: string; pid: number }[] = [];
    await Promise.all(
      (await listPidFiles(this.runDir)).map(async ({ file, data }) => {
        if (data && mine.has(data.pid)) return;
        const st = data ? await readStat(data.pid) : null;
        const alive = data !== null && st !== null && st.state !== 'Z' && st.startTime === data.startTime;
        if (alive) {
          await signalGroup(data.pid, 'SIGTERM', data.sandbox === 'bubblewrap' ? ['bwrap'] : []);
          if (!(await waitGone(data.pid, data.startTime, this.stopGraceMs))) safeKill(-data.pid, 'SIGKILL');
          await waitGone(data.pid, data.startTime, 5000);
          safeKill(-data.pid, 'SIGKILL'); // stragglers left in the group
          ended.push({ deploymentId: data.deploymentId, instanceKey: data.instanceKey, pid: data.pid });
          this.logs.append(data.deploymentId, 'system', `[${data.instanceKey}] ended orphan pid ${data.pid} left by a previous Berth: ${data.command}`);
        }
        await removePidFile(file);
      }),
    );
    // Whatever is still in a leftover cgroup (a server that left its process group) goes too.
    await this.cgroups?.reap(new Set(this.live.keys()));
    return ended;
  }

  /**
   * Processes started by this data dir's runtimes that are alive now, from their pid files: this runtime's own
   * and those a previous Berth left (`mine` false), with the owner labels they were launched with.
   */
  async found(): Promise<FoundProcess[]> {
    const mine = new Set([...this.live.values()].map((h) => h.pid));
    const out: FoundProcess[] = [];
    for (const { data } of await listPidFiles(this.runDir)) {
      if (!data) continue;
      const st = await readStat(data.pid);
      if (!st || st.state === 'Z' || st.startTime !== data.startTime) continue;
      out.push({ deploymentId: data.deploymentId, instanceKey: data.instanceKey, pid: data.pid, labels: data.labels ?? {}, mine: mine.has(data.pid) });
    }
    return out;
  }

  private openMount(given: string, field: string, internal = false): OpenedMount {
    try {
      return internal ? this.facts.guard.openInternal(given) : this.facts.guard.open(given, field);
    } catch (err) {
      const e = err as Error & { code?: string };
      throw new LaunchError(`Cannot start: ${e.message}`, e.code);
    }
  }

  private resolvConfFile: string | null = null;
  /** A resolv.conf naming slirp's DNS forwarder (the host's own resolvers may sit on blocked addresses). */
  private resolvConf(net: SlirpNet): string {
    if (!this.resolvConfFile) {
      const file = path.join(this.runDir, 'resolv.conf');
      mkdirSync(this.runDir, { recursive: true });
      writeFileSync(file, `# written by Berth for sandboxes with network egress\nnameserver ${net.dns}\n`, { mode: 0o644 });
      this.resolvConfFile = file;
    }
    return this.resolvConfFile;
  }
}
