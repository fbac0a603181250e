import type { IsolationView } from '../../core/isolation.js';
import type { ExitInfo, LaunchPolicy, StdioProcess, Workload, WorkloadAddress, WorkloadLogLine, WorkloadLogs, WorkloadRuntime, WorkloadState, WorkloadStats } from '../types.js';
import { checkDeploymentId, checkWorkload, leftBehind, matchesLabels, removeLeftovers } from '../workload-book.js';
import { LaunchError, type ProcessRuntime } from './runtime.js';
import { processStats } from '../usage.js';

export interface ProcessWorkloadsOptions {
  /** The launcher: sandbox, limits, pid files. Its data dir holds the work folders. */
  runtime: ProcessRuntime;
  dataDir: string;
  logs: WorkloadLogs;
}

interface Entry {
  workload: Workload;
  address: WorkloadAddress;
  procs: Set<StdioProcess>;
  /** Processes Berth stopped: their exit is not a crash. */
  expected: WeakSet<StdioProcess>;
  lastExit: ExitInfo | null;
  /** The last thing that happened was an exit Berth did not ask for (and no process runs). */
  crashed: boolean;
  gone: boolean;
}

/**
 * The process driver as a workload runtime: the bridge runs inside Berth, so `ensure` starts nothing. It
 * records the workload and returns a `stdio` address whose `spawn` launches the workload's command through
 * the process runtime (sandbox, limits, pid files with the owner labels). Each revision's processes have
 * their own instance keys (`r2-main`), so two revisions of a deployment can run side by side (blue-green).
 */
export class ProcessWorkloads implements WorkloadRuntime {
  readonly name = 'process';
  private readonly entries = new Map<string, Map<number, Entry>>();
  private stopping = false;

  constructor(private readonly opts: ProcessWorkloadsOptions) {}

  admit(policy: LaunchPolicy): void {
    this.opts.runtime.admit(policy);
  }

  isolation(policy: LaunchPolicy): IsolationView {
    return this.opts.runtime.isolation(policy);
  }

  notices(): string[] {
    return this.opts.runtime.notices();
  }

  async ensure(workload: Workload): Promise<WorkloadState & { address: WorkloadAddress }> {
    checkWorkload(workload);
    let revisions = this.entries.get(workload.deploymentId);
    if (!revisions) this.entries.set(workload.deploymentId, (revisions = new Map()));
    let entry = revisions.get(workload.revision);
    if (!entry) {
      const e: Entry = {
        workload,
        address: { kind: 'stdio', spawn: (key) => this.spawn(e, key) },
        procs: new Set(),
        expected: new WeakSet(),
        lastExit: null,
        crashed: false,
        gone: false,
      };
      revisions.set(workload.revision, (entry = e));
    }
    return { ...this.state(entry), address: entry.address };
  }

  async observe(deploymentId: string): Promise<WorkloadState | null> {
    checkDeploymentId(deploymentId);
    const revisions = this.entries.get(deploymentId);
    if (revisions && revisions.size > 0) return this.state(revisions.get(Math.max(...revisions.keys()))!);
    return leftBehind(await this.opts.runtime.found()).find((s) => s.deploymentId === deploymentId) ?? null;
  }

  async list(labels: Record<string, string> = {}): Promise<WorkloadState[]> {
    const mine = [...this.entries.values()].flatMap((revs) => [...revs.values()].map((e) => this.state(e)));
    const theirs = leftBehind(await this.opts.runtime.found());
    return [...mine, ...theirs].filter((s) => matchesLabels(s.labels, labels));
  }

  async stop(deploymentId: string, opts: { revision?: number; graceMs?: number } = {}): Promise<void> {
    checkDeploymentId(deploymentId);
    const revisions = this.entries.get(deploymentId);
    if (!revisions) return;
    const doomed = [...revisions.values()].filter((e) => opts.revision === undefined || e.workload.revision === opts.revision);
    for (const e of doomed) {
      e.gone = true;
      revisions.delete(e.workload.revision);
    }
    if (revisions.size === 0) this.entries.delete(deploymentId);
    await Promise.all(doomed.flatMap((e) => [...e.procs].map((p) => this.stopProcess(e, p, opts.graceMs))));
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

  reapOrphans(): ReturnType<ProcessRuntime['reapOrphans']> {
    return this.opts.runtime.reapOrphans();
  }

  async stopAll(graceMs?: number): Promise<void> {
    this.stopping = true;
    await this.opts.runtime.stopAll(graceMs);
  }

  private async spawn(e: Entry, instanceKey: string): Promise<StdioProcess> {
    const w = e.workload;
    if (e.gone) throw new LaunchError(`Cannot start ${w.deploymentId} revision ${w.revision}: its workload was stopped or removed`);
    const p = await this.opts.runtime.launch({ ...w.launch, deploymentId: w.deploymentId, instanceKey: `r${w.revision}-${instanceKey}`, labels: w.labels });
    e.procs.add(p);
    e.crashed = false;
    void p.exited.then((info) => {
      e.procs.delete(p);
      if (e.expected.has(p) || this.stopping) return;
      e.lastExit = info;
      if (e.procs.size === 0) e.crashed = true;
    });
    // The bridge's stop() is Berth stopping it: not a crash.
    return { pid: p.pid, stdin: p.stdin, stdout: p.stdout, exited: p.exited, stop: (graceMs) => this.stopProcess(e, p, graceMs) };
  }

  private stopProcess(e: Entry, p: StdioProcess, graceMs?: number): Promise<ExitInfo> {
    e.expected.add(p);
    return p.stop(graceMs);
  }

  private state(e: Entry): WorkloadState {
    const pids = [...e.procs].map((p) => p.pid);
    const phase = pids.length > 0 ? 'running' : e.crashed ? 'exited' : 'created';
    return { deploymentId: e.workload.deploymentId, revision: e.workload.revision, labels: { ...e.workload.labels }, phase, pids, lastExit: e.lastExit, address: e.gone ? null : e.address, owned: true };
  }
}
