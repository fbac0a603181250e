import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import type { IsolationView } from '../../core/isolation.js';
import type { ExitInfo, LaunchPolicy, Runtime, StdioProcess, Workload, WorkloadAddress, WorkloadLogLine, WorkloadLogs, WorkloadRuntime, WorkloadState, WorkloadStats } from '../types.js';
import { checkDeploymentId, checkWorkload, leftBehind, matchesLabels, removeLeftovers, type FoundLike } from '../workload-book.js';
import { processStats } from '../usage.js';

export interface LocalHttpRuntimeOptions {
  /**
   * Launches the bridge program, sandboxed (the process runtime). It must allow `network: "host"`: the
   * bridge listens on the host's 127.0.0.1, where Berth reaches it.
   */
  launcher: Pick<Runtime, 'launch' | 'admit' | 'isolation' | 'notices' | 'reapOrphans' | 'stopAll'> & { found(): Promise<FoundLike[]> };
  dataDir: string;
  logs: WorkloadLogs;
  /**
   * How to run `berth bridge`: e.g. `{ command: process.execPath, args: ['/opt/berth/bin/berth.js', 'bridge'] }`;
   * `mounts`: what the sandboxed bridge must see of Berth's own files (bin/, dist/, node_modules/, package.json), read-only.
   */
  bridge: { command: string; args: string[]; mounts: string[] };
  /** The operator's mount roots: a deployment may touch Berth's own files (bridge.mounts) only inside them. */
  operatorMountRoots: string[];
  /** Longest wait for the bridge's /health to say ready (default 30 000). */
  readyTimeoutMs?: number;
}

interface Entry {
  workload: Workload;
  proc: StdioProcess;
  address: WorkloadAddress & { kind: 'http' };
  ready: boolean;
  stopped: boolean;
  lastExit: ExitInfo | null;
}

/**
 * A workload driver whose workloads are HTTP services, like containers and pods, without a container engine:
 * each workload is the bridge program (`berth bridge`) in a sandboxed child process on a free 127.0.0.1 port,
 * running the server inside. The data plane reaches it at `http://127.0.0.1:PORT/mcp` with a bearer token
 * made for that workload. It stands in for the container driver: everything above the runtime sees the same
 * `http` address a container gives.
 *
 * Not enforced here: `spec.network`. The bridge must share the host's network so Berth can reach its port, so
 * the server can reach the host's loopback too (Berth's API still needs a token). The container driver puts
 * the workload on its own network instead.
 */
export class LocalHttpRuntime implements WorkloadRuntime {
  readonly name = 'local-http';
  private readonly entries = new Map<string, Map<number, Entry>>();
  private readonly starting = new Map<string, Promise<Entry>>();
  private readonly readyTimeoutMs: number;
  private stopping = false;

  constructor(private readonly opts: LocalHttpRuntimeOptions) {
    if (!Array.isArray(opts.bridge?.args) || typeof opts.bridge.command !== 'string') throw new Error('LocalHttpRuntime: bridge.command and bridge.args are required');
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  }

  admit(policy: LaunchPolicy): void {
    for (const [field, p] of [['cwd', policy.cwd] as const, ...(policy.mounts ?? []).map((m, i) => [`mounts[${i}]`, m.path] as const)]) {
      if (p === undefined) continue;
      const abs = path.resolve(p);
      const touchesBerth = this.opts.bridge.mounts.some((m) => under(abs, m) || under(m, abs));
      if (touchesBerth && !this.opts.operatorMountRoots.some((r) => under(abs, r))) {
        throw new BerthError('MOUNT_NOT_ALLOWED', `${field} ${p} overlaps Berth's own files, which are not under BERTH_MOUNT_ROOTS`, { field });
      }
    }
    this.opts.launcher.admit({ ...policy, network: 'host' });
  }

  isolation(policy: LaunchPolicy): IsolationView {
    return this.opts.launcher.isolation({ ...policy, network: 'host' });
  }

  notices(): string[] {
    return [...this.opts.launcher.notices(), 'runtime local-http: servers share the host network (spec.network is not enforced) so Berth can reach their bridge on 127.0.0.1'];
  }

  async ensure(workload: Workload): Promise<WorkloadState & { address: WorkloadAddress }> {
    checkWorkload(workload);
    const key = `${workload.deploymentId}#${workload.revision}`;
    const current = this.entries.get(workload.deploymentId)?.get(workload.revision);
    if (current && !current.stopped && current.lastExit === null) {
      await this.waitReady(current);
      return { ...this.state(current), address: current.address };
    }
    // Two ensures at once start one bridge.
    let pending = this.starting.get(key);
    if (!pending) {
      pending = this.start(workload).finally(() => this.starting.delete(key));
      this.starting.set(key, pending);
    }
    const entry = await pending;
    return { ...this.state(entry), address: entry.address };
  }

  async observe(deploymentId: string): Promise<WorkloadState | null> {
    checkDeploymentId(deploymentId);
    const revisions = this.entries.get(deploymentId);
    if (revisions && revisions.size > 0) return this.state(revisions.get(Math.max(...revisions.keys()))!);
    return leftBehind(await this.opts.launcher.found()).find((s) => s.deploymentId === deploymentId) ?? null;
  }

  async list(labels: Record<string, string> = {}): Promise<WorkloadState[]> {
    const mine = [...this.entries.values()].flatMap((revs) => [...revs.values()].map((e) => this.state(e)));
    return [...mine, ...leftBehind(await this.opts.launcher.found())].filter((s) => matchesLabels(s.labels, labels));
  }

  async stop(deploymentId: string, opts: { revision?: number; graceMs?: number } = {}): Promise<void> {
    checkDeploymentId(deploymentId);
    const revisions = this.entries.get(deploymentId);
    if (!revisions) return;
    const doomed = [...revisions.values()].filter((e) => opts.revision === undefined || e.workload.revision === opts.revision);
    for (const e of doomed) revisions.delete(e.workload.revision);
    if (revisions.size === 0) this.entries.delete(deploymentId);
    await Promise.all(
      doomed.map((e) => {
        e.stopped = true;
        return e.proc.stop(opts.graceMs);
      }),
    );
  }

  async remove(deploymentId: string, opts: { keepLogs?: boolean; graceMs?: number } = {}): Promise<void> {
    await this.stop(deploymentId, { graceMs: opts.graceMs });
    await removeLeftovers(this.opts.dataDir, this.opts.logs, deploymentId, opts.keepLogs === true);
  }

  logs(deploymentId: string, opts: { tail?: number } = {}): Promise<WorkloadLogLine[]> {
    checkDeploymentId(deploymentId);
    return this.opts.logs.read(deploymentId, opts);
  }

  stats(deploymentId: string): Promise<WorkloadStats[]> {
    checkDeploymentId(deploymentId);
    return processStats([...(this.entries.get(deploymentId)?.values() ?? [])].map((e) => this.state(e)));
  }

  reapOrphans(): ReturnType<Runtime['reapOrphans']> {
    return this.opts.launcher.reapOrphans();
  }

  async stopAll(graceMs?: number): Promise<void> {
    this.stopping = true;
    for (const revisions of this.entries.values()) for (const e of revisions.values()) e.stopped = true;
    await this.opts.launcher.stopAll(graceMs);
  }

  private async start(w: Workload): Promise<Entry> {
    const old = this.entries.get(w.deploymentId)?.get(w.revision);
    if (old) await this.stop(w.deploymentId, { revision: w.revision });
    const port = await freeLoopbackPort();
    const token = randomBytes(24).toString('base64url');
    const mode = w.bridge?.mode === 'isolated' ? ['--isolated', '--warm', String(w.bridge.warm), '--max-sessions', String(w.bridge.max)] : [];
    const proc = await this.opts.launcher.launch({
      deploymentId: w.deploymentId,
      instanceKey: `r${w.revision}-bridge`,
      command: this.opts.bridge.command,
      args: [...this.opts.bridge.args, '--port', String(port), '--host', '127.0.0.1', ...mode, '--', w.launch.command, ...w.launch.args],
      env: { ...w.launch.env, BERTH_BRIDGE_TOKEN: token },
      ...(w.launch.cwd === undefined ? {} : { cwd: w.launch.cwd }),
      network: 'host',
      mounts: [...(w.launch.mounts ?? []), ...this.opts.bridge.mounts.map((p) => ({ path: p, mode: 'ro' as const }))],
      ...(w.launch.limits ? { limits: w.launch.limits } : {}),
      ...(w.launch.internalMounts ? { internalMounts: w.launch.internalMounts } : {}),
      ...(w.launch.workspace === undefined ? {} : { workspace: w.launch.workspace }),
      labels: w.labels,
    });
    proc.stdout.resume(); // the bridge prints on stderr (the deployment's log); nothing may pile up here
    const entry: Entry = { workload: w, proc, address: { kind: 'http', url: `http://127.0.0.1:${port}/mcp`, headers: { authorization: `Bearer ${token}` }, bridged: true }, ready: false, stopped: false, lastExit: null };
    void proc.exited.then((info) => {
      if (!entry.stopped && !this.stopping) entry.lastExit = info;
    });
    let revisions = this.entries.get(w.deploymentId);
    if (!revisions) this.entries.set(w.deploymentId, (revisions = new Map()));
    revisions.set(w.revision, entry);
    try {
      await this.waitReady(entry);
    } catch (err) {
      // A bridge that exited stays observable as exited (with its exit); one that hangs is stopped.
      if (entry.lastExit === null) await this.stop(w.deploymentId, { revision: w.revision }).catch(() => {});
      throw err;
    }
    return entry;
  }

  /** Polls the bridge's /health until it says the server answered initialize; rejects when it exits or takes too long. */
  private async waitReady(e: Entry): Promise<void> {
    if (e.ready) return;
    const health = e.address.url.replace(/\/mcp$/, '/health');
    const deadline = Date.now() + this.readyTimeoutMs;
    const exited = e.proc.exited.then((info) => info);
    while (Date.now() < deadline) {
      const done = await Promise.race([exited, sleep(50).then(() => null)]);
      if (done) throw new BerthError('UPSTREAM_UNAVAILABLE', `The bridge of ${e.workload.deploymentId} exited (${done.signal ?? `code ${done.code}`}${done.reason ? `: ${done.reason}` : ''}) before its server was ready; see its logs`);
      if (e.stopped) throw new BerthError('UPSTREAM_UNAVAILABLE', `The workload of ${e.workload.deploymentId} was stopped while it started`);
      try {
        const res = await fetch(health, { signal: AbortSignal.timeout(2_000) });
        await res.body?.cancel();
        if (res.status === 200) {
          e.ready = true;
          return;
        }
      } catch {
        /* not listening yet */
      }
    }
    throw new BerthError('UPSTREAM_TIMEOUT', `The bridge of ${e.workload.deploymentId} was not ready within ${Math.round(this.readyTimeoutMs / 1000)}s`);
  }

  private state(e: Entry): WorkloadState {
    const alive = e.lastExit === null && !e.stopped;
    const phase = !alive ? 'exited' : e.ready ? 'running' : 'starting';
    return {
      deploymentId: e.workload.deploymentId,
      revision: e.workload.revision,
      labels: { ...e.workload.labels },
      phase,
      pids: alive ? [e.proc.pid] : [],
      lastExit: e.lastExit,
      address: alive ? e.address : null,
      owned: true,
    };
  }
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A port that was free on 127.0.0.1 a moment ago (the bridge binds it next; a lost race fails that start). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
