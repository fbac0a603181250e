import { spawn } from 'node:child_process';
import { existsSync, promises as fsp, statSync } from 'node:fs';
import path from 'node:path';
import type { LogStore } from '../../telemetry/logs.js';
import type { ExitInfo, LaunchRequest, Runtime, StdioProcess } from '../types.js';
import { ProcessHandle } from './handle.js';
import { listPidFiles, pidFilePath, removePidFile, writePidFile, type PidFile } from './pidfile.js';
import { readStat, safeKill, signalGroup, waitGone } from './proc.js';
import { eachLine } from './lines.js';
import { DEFAULT_PATH, bwrapArgs, pathsHiddenBySandbox, prlimitArgs, resolveCommand, type Limits } from './sandbox.js';

export type SandboxMode = 'auto' | 'bubblewrap' | 'none';

export interface ProcessRuntimeOptions {
  /** Berth's data dir (absolute): pid files go to `run/`, default working dirs to `work/<deploymentId>/`. */
  dataDir: string;
  logs: LogStore;
  /** `auto`: bubblewrap when `bwrap` is found, else none. `bubblewrap`: required (throws when missing). */
  sandbox: SandboxMode;
  limits?: Limits;
  /** Default grace between SIGTERM and SIGKILL. */
  stopGraceMs?: number;
  /** Where to look for `bwrap` and `prlimit` (default: the standard system dirs). */
  hostPath?: string;
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

function fail(msg: string): never {
  throw new Error(`ProcessRuntime: ${msg}`);
}

function checkLimit(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v <= 0)) fail(`limits.${name} must be a positive integer, got ${String(v)}`);
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process';
  /** What `sandbox: 'auto'` resolved to. */
  readonly sandbox: 'bubblewrap' | 'none';
  private readonly dataDir: string;
  private readonly runDir: string;
  private readonly logs: LogStore;
  private readonly limits: Limits | undefined;
  private readonly stopGraceMs: number;
  private readonly bwrap: string | null;
  private readonly prlimit: string | null;
  private readonly live = new Map<string, ProcessHandle>();

  constructor(opts: ProcessRuntimeOptions) {
    if (typeof opts !== 'object' || opts === null) fail('options are required');
    if (typeof opts.dataDir !== 'string' || !path.isAbsolute(opts.dataDir)) fail(`dataDir must be an absolute path, got ${JSON.stringify(opts.dataDir)}`);
    if (!opts.logs || typeof opts.logs.append !== 'function') fail('logs must be a LogStore');
    if (!['auto', 'bubblewrap', 'none'].includes(opts.sandbox)) fail(`sandbox must be 'auto', 'bubblewrap' or 'none', got ${JSON.stringify(opts.sandbox)}`);
    const grace = opts.stopGraceMs ?? 5000;
    if (!Number.isInteger(grace) || grace < 0) fail(`stopGraceMs must be a non-negative integer, got ${String(opts.stopGraceMs)}`);
    if (opts.limits !== undefined && (typeof opts.limits !== 'object' || opts.limits === null)) fail('limits must be an object');
    checkLimit('memoryMb', opts.limits?.memoryMb);
    checkLimit('nofile', opts.limits?.nofile);
    checkLimit('nproc', opts.limits?.nproc);
    const hostPath = opts.hostPath ?? DEFAULT_PATH;
    this.dataDir = opts.dataDir;
    this.runDir = path.join(opts.dataDir, 'run');
    this.logs = opts.logs;
    this.stopGraceMs = grace;
    this.limits = opts.limits;
    const bwrap = opts.sandbox === 'none' ? null : resolveCommand('bwrap', hostPath, '/');
    if (opts.sandbox === 'bubblewrap' && !bwrap) {
      fail(`sandbox 'bubblewrap' needs the bwrap binary, which is not on ${hostPath} (install the 'bubblewrap' package, or use sandbox 'auto' or 'none')`);
    }
    this.bwrap = bwrap;
    this.sandbox = bwrap ? 'bubblewrap' : 'none';
    const wantsLimits = prlimitArgs(opts.limits).length > 0;
    this.prlimit = wantsLimits ? resolveCommand('prlimit', hostPath, '/') : null;
    if (wantsLimits && !this.prlimit) fail(`limits need the prlimit binary (util-linux), which is not on ${hostPath}`);
  }

  async launch(req: LaunchRequest): Promise<StdioProcess> {
    if (!NAME_PART.test(req.deploymentId)) throw new LaunchError(`invalid deploymentId ${JSON.stringify(req.deploymentId)}`);
    if (!NAME_PART.test(req.instanceKey)) throw new LaunchError(`invalid instanceKey ${JSON.stringify(req.instanceKey)}`);
    if (typeof req.command !== 'string' || req.command === '') throw new LaunchError('command must be a non-empty string');
    const key = `${req.deploymentId}.${req.instanceKey}`;
    if (this.live.has(key)) throw new LaunchError(`${key} is already running (pid ${this.live.get(key)?.pid})`);

    const workDir = path.join(this.dataDir, 'work', req.deploymentId);
    const home = path.join(workDir, 'home');
    const cwd = req.cwd ?? workDir;
    await fsp.mkdir(home, { recursive: true });
    await fsp.mkdir(this.runDir, { recursive: true });
    if (!existsSync(cwd) || !statSync(cwd).isDirectory()) {
      throw new LaunchError(`Cannot start "${req.command}": working directory ${cwd} does not exist`, 'ENOENT');
    }

    const env: Record<string, string> = { ...req.env };
    env.PATH ??= `${path.dirname(process.execPath)}:${DEFAULT_PATH}`;
    // In the sandbox only the per-deployment HOME is writable and visible, so it always wins there.
    if (this.bwrap || env.HOME === undefined) env.HOME = home;

    const exe = resolveCommand(req.command, env.PATH, cwd);
    if (!exe) {
      throw new LaunchError(`Cannot start "${req.command}": command not found (searched PATH=${env.PATH})`, 'ENOENT');
    }
    let argv = [exe, ...req.args];
    if (this.prlimit) argv = [this.prlimit, ...prlimitArgs(this.limits), '--', ...argv];
    if (this.bwrap) argv = [this.bwrap, ...bwrapArgs({ cwd, home, executable: exe }), '--', ...argv];

    const [file, ...args] = argv as [string, ...string[]];
    const child = spawn(file, args, { env, cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(new LaunchError(`Cannot start "${req.command}": ${err.message}`, err.code)),
      );
    });
    const pid = child.pid as number;
    const commandLine = [req.command, ...req.args].join(' ');
    const pidFile = pidFilePath(this.runDir, req.deploymentId, req.instanceKey);
    const tag = `[${req.instanceKey}]`;
    this.logs.append(req.deploymentId, 'system', `${tag} started pid ${pid} (sandbox ${this.sandbox}): ${commandLine}`);
    if (this.bwrap) {
      for (const hidden of pathsHiddenBySandbox(req.args, { cwd, home, executable: exe })) {
        this.logs.append(req.deploymentId, 'system', `${tag} warning: ${hidden} is outside what the sandboxed server can see (system folders, its working folder ${cwd}, its HOME): deploy with --cwd set to its folder (spec.cwd), or run Berth with BERTH_SANDBOX=none`);
      }
    }
    const handle = new ProcessHandle(child, this.bwrap !== null, this.stopGraceMs, async (info: ExitInfo) => {
      this.live.delete(key);
      const how = info.signal ? `signal ${info.signal}` : `code ${info.code}`;
      this.logs.append(req.deploymentId, 'system', `${tag} exited with ${how} (pid ${pid})`);
      await removePidFile(pidFile);
    });
    this.live.set(key, handle);
    eachLine(child.stderr!, (line) => this.logs.append(req.deploymentId, 'stderr', line));

    const stat = await readStat(pid);
    const data: PidFile = {
      pid,
      startTime: stat?.startTime ?? '',
      command: commandLine,
      deploymentId: req.deploymentId,
      instanceKey: req.instanceKey,
      sandbox: this.sandbox,
    };
    // Unless it already exited, in which case the exit handler has (or will) clean up.
    if (this.live.get(key) === handle) await writePidFile(pidFile, data);
    if (this.live.get(key) !== handle) await removePidFile(pidFile);
    return handle;
  }

  async stopAll(graceMs: number = this.stopGraceMs): Promise<void> {
    await Promise.all([...this.live.values()].map((h) => h.stop(graceMs)));
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
    return ended;
  }
}
