/**
 * RuntimeRouter: one WorkloadRuntime over several drivers. `ensure` goes to the driver the workload names
 * (`workload.runtime`; an image always to `container`; else the operator's default); observe, list, stop, remove,
 * logs, reapOrphans and stopAll ask every driver made so far. The container driver is made lazily, on the first
 * workload or policy that needs it, so a Berth without an engine never touches one; when the engine cannot be
 * reached, that workload fails with ENGINE_UNAVAILABLE naming the socket.
 */
import type { WorkloadRuntimeName } from '../core/index.js';
import type { IsolationView } from '../core/isolation.js';
import type { LaunchPolicy, Workload, WorkloadAddress, WorkloadLogLine, WorkloadRuntime, WorkloadState, WorkloadStats } from './types.js';

/** A driver the router can make lazily, and ask whether its engine answers. */
export type LazyDriver = WorkloadRuntime & { ready?(): Promise<void>; detach?(): void };

export interface RuntimeRouterOptions {
  /** The process-side driver (ProcessWorkloads, or local-http): made at start. */
  process: WorkloadRuntime;
  /** Makes the container driver (called at most once, when first needed). */
  container: () => LazyDriver;
  /** BERTH_DEFAULT_RUNTIME. */
  defaultRuntime: WorkloadRuntimeName;
  /** Make the container driver at start (it has workloads to re-adopt, or is the default). */
  eager?: boolean;
}

export class RuntimeRouter implements WorkloadRuntime {
  readonly name = 'router';
  private containerDriver: LazyDriver | null = null;

  constructor(private readonly opts: RuntimeRouterOptions) {
    if (opts.eager || opts.defaultRuntime === 'container') this.container();
  }

  /** The driver a workload, or a policy with its `runtime`, goes to. */
  driverFor(runtime: WorkloadRuntimeName | undefined, hasImage = false): LazyDriver {
    const name = hasImage ? 'container' : (runtime ?? this.opts.defaultRuntime);
    return name === 'container' ? this.container() : this.opts.process;
  }

  /** Resolves when the runtime `runtime` names can run workloads (the container engine answers); ENGINE_UNAVAILABLE otherwise. */
  async ready(runtime: WorkloadRuntimeName | undefined, hasImage = false): Promise<void> {
    await this.driverFor(runtime, hasImage).ready?.();
  }

  admit(policy: LaunchPolicy): void {
    this.driverFor(policy.runtime).admit(policy);
  }

  isolation(policy: LaunchPolicy): IsolationView {
    return this.driverFor(policy.runtime).isolation(policy);
  }

  notices(): string[] {
    return this.drivers().flatMap((d) => d.notices());
  }

  async ensure(workload: Workload): Promise<WorkloadState & { address: WorkloadAddress }> {
    const driver = this.driverFor(workload.runtime, workload.launch.image !== undefined);
    await driver.ready?.();
    return driver.ensure(workload);
  }

  async observe(deploymentId: string): Promise<WorkloadState | null> {
    const seen = (await Promise.all(this.drivers().map((d) => d.observe(deploymentId).catch(() => null)))).filter((s): s is WorkloadState => s !== null);
    return seen.sort((a, b) => b.revision - a.revision)[0] ?? null;
  }

  async list(labels?: Record<string, string>): Promise<WorkloadState[]> {
    return (await Promise.all(this.drivers().map((d) => d.list(labels).catch(() => [])))).flat();
  }

  async stop(deploymentId: string, opts?: { revision?: number; graceMs?: number }): Promise<void> {
    await this.each((d) => d.stop(deploymentId, opts));
  }

  async remove(deploymentId: string, opts?: { keepLogs?: boolean; graceMs?: number }): Promise<void> {
    await this.each((d) => d.remove(deploymentId, opts));
  }

  /** The deployment's log lines (all drivers write to one log store: the process driver reads it). */
  logs(deploymentId: string, opts?: { tail?: number }): Promise<WorkloadLogLine[]> {
    return this.opts.process.logs(deploymentId, opts);
  }

  async stats(deploymentId: string): Promise<WorkloadStats[]> {
    const all = await Promise.all(this.drivers().map((d) => d.stats(deploymentId).catch(() => [])));
    return all.flat().sort((a, b) => b.revision - a.revision);
  }

  async reapOrphans(): Promise<{ deploymentId: string; instanceKey: string; pid: number }[]> {
    return (await Promise.all(this.drivers().map((d) => d.reapOrphans().catch(() => [])))).flat();
  }

  /** Berth is shutting down: drivers whose workloads outlive it (containers) leave them running from now on. */
  detach(): void {
    this.containerDriver?.detach?.();
  }

  async stopAll(graceMs?: number): Promise<void> {
    await Promise.all(this.drivers().map((d) => d.stopAll(graceMs)));
  }

  private container(): LazyDriver {
    this.containerDriver ??= this.opts.container();
    return this.containerDriver;
  }

  private drivers(): WorkloadRuntime[] {
    return this.containerDriver ? [this.opts.process, this.containerDriver] : [this.opts.process];
  }

  /** Runs `fn` on every driver; the first failure is thrown after all ran. */
  private async each(fn: (d: WorkloadRuntime) => Promise<void>): Promise<void> {
    const results = await Promise.allSettled(this.drivers().map(fn));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  }
}
