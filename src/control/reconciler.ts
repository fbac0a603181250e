import type { LastExitView, ScaleView } from '../core/views.js';
import { BerthError, toBerthError } from '../core/errors.js';
import { settleWithin } from '../core/timeout.js';
import { assertTransition, canTransition, sourceLabel, type Deployment, type DeploymentStatus, type ToolSummary } from '../core/index.js';
import type { EventBus } from '../events/types.js';
import type { BridgeEvents, EndpointStats, McpEndpoint } from '../mcp/types.js';
import type { WorkloadRuntime } from '../runtime/types.js';
import type { DeploymentPatch, DeploymentStore } from '../store/types.js';
import type { LogStore } from '../telemetry/logs.js';
import { HealthMonitor, type HealthTarget } from './health.js';
import { RetrySchedule } from './retry-schedule.js';
import { startingLine, stderrHint } from './stderr-hint.js';

/** An MCP endpoint the control plane can start (bridge or remote proxy). */
export interface ManagedEndpoint extends McpEndpoint {
  start(): Promise<void>;
  /**
   * Moves the endpoint onto `d`'s revision in place, without ending its sessions (blue-green inside a bridge):
   * resolves with the new revision's tools once it answered, rejects with the old one still serving when it
   * fails, and resolves undefined when this endpoint cannot (the caller then starts a second endpoint).
   */
  update?(d: Deployment, opts: { drainMs: number }): Promise<{ tools: ToolSummary[] } | undefined>;
}
/** What the factory needs beyond the deployment: what the revision's server last reported, for scale to zero. */
export interface EndpointExtras {
  snapshot: Record<string, unknown> | null;
}
export type EndpointFactory = (d: Deployment, events: BridgeEvents, extras?: EndpointExtras) => ManagedEndpoint;

/** The process key the shared bridge uses for its one process; only its exits change the deployment's status. */
export const SHARED_INSTANCE_KEY = 'main';

interface Active {
  endpoint: ManagedEndpoint;
  /** The revision it serves and the generation it last acted on. */
  revision: number;
  generation: number;
  /** What must match for a swap: spec type and mode. */
  shape: string;
  ready: boolean;
  whenReady: Promise<void>;
  gaveUp: string | null;
  closing: boolean;
  /** Scaled to zero: no process runs; health probes would wake it, so none are sent. */
  idle: boolean;
  /** The instance key of the shared bridge's serving process (`main`, then `main-N` after each swap). */
  sharedKey: string;
  /** A swap inside the bridge is under way: its trial process (`trialKey`) does not speak for the deployment. */
  rolling: boolean;
  trialKey: string | null;
  health: { intervalMs: number; timeoutMs: number; failuresBeforeRestart: number };
}

export interface ReconcilerDeps {
  store: DeploymentStore;
  logs: LogStore;
  bus: EventBus;
  /** `list` and `stop` (optional) let a resync end workloads nothing should be running. */
  runtime: Pick<WorkloadRuntime, 'reapOrphans' | 'stopAll'> & Partial<Pick<WorkloadRuntime, 'list' | 'stop'>>;
  makeEndpoint: EndpointFactory;
  /** A deleted deployment's leftovers: its work folder, and its logs unless `keepLogs`. */
  cleanup?: (id: string, opts: { keepLogs: boolean }) => Promise<void>;
  startTimeoutMs: number;
  stopGraceMs: number;
  /** How long an old revision may finish its in-flight requests after an update (default 30 s). */
  drainMs?: number;
  /** Backoff of a failed deployment's retries: doubling from `initialMs` up to `maxMs` (defaults 5 s, 5 min). */
  retry?: { initialMs: number; maxMs: number };
  /** Every deployment is compared with what runs this often (default 30 s; 0 turns it off). */
  resyncMs?: number;
  /** Tick of the health monitor; tests shorten it. */
  healthTickMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * The controller: converges what runs to what the store says should run, one deployment at a time. It is the
 * only writer of a deployment's status (every change checked against the status machine), rolls out new
 * revisions blue-green, retries failed deployments with a capped backoff, and resyncs periodically. Domain
 * events only wake it early: every pass re-reads the store, so a lost event costs nothing.
 */
export class Reconciler {
  private readonly active = new Map<string, Active>();
  private readonly locks = new Map<string, Promise<void>>();
  private readonly lastExits = new Map<string, LastExitView>();
  private readonly retries: RetrySchedule;
  private readonly keepLogs = new Map<string, boolean>();
  private readonly health: HealthMonitor;
  private unsubscribe: (() => void) | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: ReconcilerDeps) {
    this.retries = new RetrySchedule(deps.retry ?? { initialMs: 5_000, maxMs: 300_000 }, (id) => void this.reconcile(id));
    this.health = new HealthMonitor({
      tickMs: deps.healthTickMs ?? 1000,
      targets: () => this.healthTargets(),
      onHealthy: (id, tools) => this.recordTools(id, tools),
      onUnhealthy: (id, failures, limit, err) => this.onUnhealthy(id, failures, limit, err),
    });
  }

  /** Ends orphans of a previous run, brings every deployment to its desired state, then listens for events. */
  async start(): Promise<void> {
    // A start may follow a shutdown (the reconciler lease lost, then won back); a shutdown during a start ends it.
    this.stopped = false;
    const reaped = await this.deps.runtime.reapOrphans();
    for (const r of reaped) this.deps.logs.append(r.deploymentId, 'system', `ended process ${r.pid} left over from a previous Berth run`);
    if (this.stopped) return;
    this.unsubscribe = this.deps.bus.subscribe((e) => {
      if (e.type === 'DeploymentCreated' || e.type === 'DeploymentDesiredChanged' || e.type === 'DeploymentChanged') void this.reconcile(e.id);
    });
    await this.resync();
    if (this.stopped) return;
    this.health.start();
    const every = this.deps.resyncMs ?? 30_000;
    if (every > 0) {
      this.resyncTimer = setInterval(() => void this.resync().catch((err: unknown) => this.deps.log?.('resync failed', { error: String(err) })), every);
      this.resyncTimer.unref();
    }
  }

  /** One pass over every deployment in the store, and an end to whatever runs for one that is gone. */
  async resync(): Promise<void> {
    if (this.stopped) return;
    const all = await this.deps.store.list();
    const live = new Set(all.map((d) => d.id));
    const gone = [...this.active.keys()].filter((id) => !live.has(id));
    await Promise.all([...all.map((d) => this.reconcile(d.id)), ...gone.map((id) => this.reconcile(id))]);
    await this.endStrayWorkloads(new Set(all.filter((d) => d.desired === 'running').map((d) => d.id)));
  }

  /**
   * What the runtime observes against what should run: a workload of this Berth's with no deployment wanting it is
   * ended; so is one a previous Berth left (a container outlives Berth) of a revision other than the one now
   * serving, once no rollout is under way: a Berth that stopped in the middle of an update left the other side.
   */
  private async endStrayWorkloads(wanted: Set<string>): Promise<void> {
    const { list, stop } = this.deps.runtime;
    if (!list || !stop || this.stopped) return;
    for (const w of await list.call(this.deps.runtime)) {
      if (this.locks.has(w.deploymentId)) continue;
      const a = this.active.get(w.deploymentId);
      let why: string;
      if (!w.owned) {
        if (!a || !a.ready || a.rolling || a.closing || a.revision === w.revision || !wanted.has(w.deploymentId)) continue;
        why = `left by a previous Berth, while revision ${a.revision} serves`;
      } else {
        if (wanted.has(w.deploymentId) || a) continue;
        why = 'no deployment wants it running';
      }
      this.deps.logs.append(w.deploymentId, 'system', `ended revision ${w.revision}'s workload: ${why} (resync)`);
      await stop.call(this.deps.runtime, w.deploymentId, { revision: w.revision, graceMs: this.deps.stopGraceMs });
    }
  }

  /** Runs one reconcile pass for `id`, after any pass already queued for it. */
  reconcile(id: string): Promise<void> {
    return this.serial(id, () => this.pass(id));
  }

  /** A failed deployment is to be tried again at once (berth start / restart), not at its next backoff. */
  retryNow(id: string): void {
    this.retries.clear(id);
  }

  /** The next deletion of `id` keeps (or removes) its logs. */
  forgetOnDelete(id: string, opts: { keepLogs: boolean }): void {
    this.keepLogs.set(id, opts.keepLogs);
  }

  /**
   * The endpoint for a gateway request: immediate when running (or scaled to zero: the bridge wakes it), waits
   * while starting, and fails with a clear code when the deployment is unknown, stopped or failed.
   */
  async endpointFor(id: string): Promise<McpEndpoint> {
    const a = this.active.get(id);
    if (a && a.ready && !a.gaveUp && !a.closing) return a.endpoint;
    if (a && a.gaveUp) throw new BerthError('UPSTREAM_UNAVAILABLE', `Deployment ${id} has failed: ${a.gaveUp}`);
    const d = await this.deps.store.get(id);
    if (!d || d.status === 'deleted' || d.desired === 'deleted') throw new BerthError('DEPLOYMENT_NOT_FOUND', `No deployment with id ${id}`);
    if (d.desired === 'stopped') throw new BerthError('UPSTREAM_UNAVAILABLE', `Deployment ${id} is stopped; start it with: berth start ${id}`);
    if (d.status === 'failed') throw new BerthError('UPSTREAM_UNAVAILABLE', `Deployment ${id} has failed: ${d.status_message ?? 'unknown reason'}${this.retries.hint(id)}`);
    // Starting: wait for it (the pass may not have begun yet).
    const deadline = Date.now() + this.deps.startTimeoutMs;
    while (Date.now() < deadline) {
      const cur = this.active.get(id);
      if (cur) {
        try {
          await withTimeout(cur.whenReady, deadline - Date.now());
        } catch {
          /* fall through to the checks below */
        }
        if (cur.ready && !cur.gaveUp && !cur.closing) return cur.endpoint;
        if (this.active.get(id) === cur) break;
      } else {
        await this.reconcile(id);
        if (!this.active.has(id)) break;
      }
    }
    const again = await this.deps.store.get(id);
    throw new BerthError('UPSTREAM_UNAVAILABLE', `Deployment ${id} is not ready (${again?.status ?? 'unknown'}: ${again?.status_message ?? 'starting'})`);
  }

  /**
   * A workload's process ended on its own, reported by its runtime rather than a bridge in Berth (a container,
   * and how: an OOM kill): it becomes the deployment's `last_exit` and a line of its log.
   */
  noteExit(id: string, e: { pid: number; instanceKey: string; exit: { code: number | null; signal: NodeJS.Signals | null; reason?: string } }): void {
    const how = e.exit.signal ? `signal ${e.exit.signal}` : `code ${e.exit.code}`;
    this.lastExits.set(id, { at: new Date().toISOString(), pid: e.pid, instance_key: e.instanceKey, exit: how, reason: e.exit.reason ?? null });
  }

  /** The deployment's last unexpected process exit since Berth started, if any. */
  lastExit(id: string): LastExitView | null {
    return this.lastExits.get(id) ?? null;
  }

  stats(id: string): EndpointStats {
    return this.active.get(id)?.endpoint.stats() ?? { sessions: 0, processes: 0, inFlight: 0 };
  }

  /** Scale to zero as status shows it; null when the deployment always runs. */
  scaleView(id: string, d: Deployment): ScaleView | null {
    const scale = d.spec.type === 'process' ? d.spec.scale : undefined;
    if (!scale || scale.min !== 0) return null;
    const stats = this.active.get(id)?.endpoint.stats();
    const lastMs = Math.max(stats?.lastRequestAt ?? 0, d.last_request_at ? Date.parse(d.last_request_at) : 0);
    const idleAt = stats?.idleAt ?? null;
    return {
      min: 0,
      idle_s: scale.idle_s,
      last_request_at: lastMs > 0 ? new Date(lastMs).toISOString() : null,
      idle_for_s: lastMs > 0 ? Math.max(0, Math.floor((Date.now() - lastMs) / 1000)) : null,
      next_idle_stop_at: idleAt === null ? null : new Date(idleAt).toISOString(),
    };
  }

  /** Berth is shutting down: stop everything that runs but leave the desired state as it is. */
  async shutdown(): Promise<void> {
    await this.suspend();
    await this.deps.runtime.stopAll(this.deps.stopGraceMs);
  }

  /**
   * Stop reconciling and stop every endpoint (and so its processes), leaving the desired state as it is and
   * the runtime usable: the reconciler lease was lost, and `start` follows if it is won back.
   */
  async suspend(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
    this.retries.clearAll();
    this.health.stop();
    await Promise.allSettled([...this.locks.values()]);
    await Promise.allSettled([...this.active.keys()].map((id) => this.deactivate(id)));
  }

  private serial(id: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch((err: unknown) => this.deps.log?.('reconcile failed', { id, error: String(err) }));
    this.locks.set(id, settled);
    void settled.then(() => {
      if (this.locks.get(id) === settled) this.locks.delete(id);
    });
    return next;
  }

  private async pass(id: string): Promise<void> {
    if (this.stopped) return;
    const d = await this.deps.store.get(id);
    let a = this.active.get(id);
    if (!d) {
      if (a) await this.deactivate(id);
      return;
    }
    if (d.desired === 'deleted') {
      if (a) await this.deactivate(id);
      this.retryNow(id);
      if (d.status !== 'deleted') {
        await this.setStatus(d, 'deleted', null, { deleted_at: new Date().toISOString(), started_at: null, observed_generation: d.generation });
        const keepLogs = this.keepLogs.get(id) ?? false;
        this.keepLogs.delete(id);
        await this.deps.cleanup?.(id, { keepLogs }).catch((err: unknown) => this.deps.log?.('cleanup failed', { id, error: String(err) }));
        await this.deps.bus.publish({ type: 'DeploymentDeleted', id, at: new Date().toISOString() });
      }
      return;
    }
    if (d.desired === 'stopped') {
      if (a) await this.deactivate(id);
      this.retryNow(id);
      if (d.status !== 'stopped') await this.setStatus(d, 'stopped', null, { stopped_at: new Date().toISOString(), started_at: null, serving_revision: null, observed_generation: d.generation });
      else await this.observed(d);
      return;
    }
    // desired running
    if (a && a.gaveUp) {
      if (this.retries.waiting(id, d.generation)) return;
      await this.deactivate(id);
      a = undefined;
    }
    if (!a) {
      if (d.status === 'failed' && this.retries.waiting(id, d.generation)) return; // its retry timer comes back
      await this.activate(d);
      return;
    }
    if (a.closing || d.generation <= a.generation) return;
    await this.rollout(d, a);
  }

  private newActive(d: Deployment): { active: Active; markReady: () => void; markFailed: (err: unknown) => void } {
    let markReady!: () => void;
    let markFailed!: (err: unknown) => void;
    const whenReady = new Promise<void>((res, rej) => {
      markReady = res;
      markFailed = rej;
    });
    whenReady.catch(() => {});
    const h = d.spec.health;
    const active: Active = {
      endpoint: undefined as unknown as ManagedEndpoint,
      revision: d.revision,
      generation: d.generation,
      shape: shapeOf(d),
      ready: false,
      whenReady,
      gaveUp: null,
      closing: false,
      idle: false,
      sharedKey: SHARED_INSTANCE_KEY,
      rolling: false,
      trialKey: null,
      health: { intervalMs: h.interval_s * 1000, timeoutMs: h.timeout_s * 1000, failuresBeforeRestart: h.failures_before_restart },
    };
    return { active, markReady, markFailed };
  }

  /** Makes and starts the endpoint of the deployment's revision; resolves with the tools it reported. */
  private async startEndpoint(d: Deployment, active: Active): Promise<ToolSummary[]> {
    // Only a deployment that scales to zero answers from what its revision last reported.
    const snapshot = scaledToZero(d) ? ((await this.deps.store.getRevision(d.id, d.revision))?.snapshot ?? null) : null;
    active.endpoint = this.deps.makeEndpoint(d, this.bridgeEvents(d.id, active), { snapshot });
    await withTimeout(active.endpoint.start(), this.deps.startTimeoutMs, `did not start within ${Math.round(this.deps.startTimeoutMs / 1000)}s`);
    if (scaledToZero(d) && snapshot !== null) {
      // Started idle from what the revision last reported: probing would wake it.
      active.idle = true;
      return d.tools ?? [];
    }
    const { tools } = await active.endpoint.probe(Math.min(this.deps.startTimeoutMs, d.spec.health.timeout_s * 1000));
    return tools;
  }

  private async activate(d: Deployment, note: string | null = null): Promise<void> {
    const id = d.id;
    await this.setStatus(d, 'deploying', 'starting');
    this.deps.logs.append(id, 'system', startingLine(`${describeSpec(d)} (revision ${d.revision})`));
    const { active, markReady, markFailed } = this.newActive(d);
    this.active.set(id, active);
    try {
      const tools = await this.startEndpoint(d, active);
      active.ready = true;
      markReady();
      this.retries.clear(id);
      const status = active.idle ? 'idle' : 'running';
      await this.setStatus(d, status, note ?? (active.idle ? 'scaled to zero; the first call starts it' : null), {
        tools,
        started_at: new Date().toISOString(),
        stopped_at: null,
        serving_revision: d.revision,
        observed_generation: d.generation,
      });
      this.deps.logs.append(id, 'system', active.idle ? `ready, idle: listing is answered from revision ${d.revision}'s snapshot` : `ready: ${tools.length} tool${tools.length === 1 ? '' : 's'} (${tools.map((t) => t.name).join(', ')})`);
      this.health.reset(id);
    } catch (err) {
      const message = await this.failureMessage(d, `failed to start: ${toBerthError(err).message}`);
      markFailed(err);
      active.closing = true;
      this.active.delete(id);
      await active.endpoint?.close().catch(() => {});
      const fresh = await this.deps.store.get(id);
      // A revision that never served (its rollout had failed, and Berth restarted or the old one crashed since):
      // the revision that served before comes back instead of nothing serving.
      const previous = fresh && fresh.desired === 'running' && d.serving_revision !== null && d.serving_revision !== d.revision ? await this.deps.store.getRevision(id, d.serving_revision) : undefined;
      if (fresh && previous) {
        this.deps.logs.append(id, 'system', `${message}; revision ${previous.number}, which served before, starts instead`);
        await this.activate({ ...fresh, spec: previous.spec, env_schema: previous.env_schema, revision: previous.number, serving_revision: previous.number }, `revision ${d.revision} failed to start; revision ${previous.number} serves (${message.slice(0, 300)})`);
        return;
      }
      if (fresh && fresh.desired === 'running') {
        const retry = this.retries.schedule(id, d.generation);
        this.deps.logs.append(id, 'system', `${message}; ${retry}`);
        await this.setStatus(fresh, 'failed', `${message}; ${retry}`, { serving_revision: null, observed_generation: d.generation });
      } else {
        this.deps.logs.append(id, 'system', message);
      }
    }
  }

  /**
   * Blue-green: the deployment's new revision (or fresh processes, for a restart) starts and answers before it
   * takes traffic; the old one finishes what it has in flight. A new revision that fails leaves the old serving.
   */
  private async rollout(d: Deployment, old: Active): Promise<void> {
    const id = d.id;
    const what = d.revision === old.revision ? `restarting revision ${d.revision}` : `rolling out revision ${d.revision}`;
    await this.setStatus(d, 'deploying', `${what}; revision ${old.revision} serving`);
    this.deps.logs.append(id, 'system', `${what}: ${describeSpec(d)}`);
    old.generation = d.generation; // acted on, whatever the outcome: a failing revision is not retried on every pass
    let tools: ToolSummary[];
    try {
      let inPlace: { tools: ToolSummary[] } | undefined;
      if (old.endpoint.update && old.shape === shapeOf(d)) {
        old.rolling = true;
        old.trialKey = null;
        try {
          inPlace = await withTimeout(old.endpoint.update(d, { drainMs: this.drainMs() }), this.deps.startTimeoutMs, `revision ${d.revision} did not start within ${Math.round(this.deps.startTimeoutMs / 1000)}s`);
          if (inPlace && old.trialKey !== null) old.sharedKey = old.trialKey;
        } finally {
          old.rolling = false;
          old.trialKey = null;
        }
      }
      if (inPlace) {
        tools = inPlace.tools;
        old.revision = d.revision;
        old.idle = false;
        const h = d.spec.health;
        old.health = { intervalMs: h.interval_s * 1000, timeoutMs: h.timeout_s * 1000, failuresBeforeRestart: h.failures_before_restart };
      } else {
        const { active, markReady, markFailed } = this.newActive(d);
        try {
          tools = await this.startEndpoint(d, active);
        } catch (err) {
          markFailed(err);
          active.closing = true;
          await active.endpoint?.close().catch(() => {});
          throw err;
        }
        active.ready = true;
        markReady();
        // The switch: new requests get the new endpoint; the old finishes what it has, then closes.
        this.active.set(id, active);
        old.closing = true;
        void this.drain(id, old);
      }
    } catch (err) {
      const message = await this.failureMessage(d, `revision ${d.revision} failed to start: ${toBerthError(err).message}; revision ${old.revision} still serving`);
      this.deps.logs.append(id, 'system', message);
      const fresh = await this.deps.store.get(id);
      if (fresh) await this.setStatus(fresh, old.idle ? 'idle' : 'running', message, { observed_generation: d.generation });
      return;
    }
    const now = this.active.get(id);
    const idle = now?.idle ?? false;
    await this.setStatus(d, idle ? 'idle' : 'running', null, { tools, serving_revision: d.revision, observed_generation: d.generation, started_at: new Date().toISOString() });
    this.deps.logs.append(id, 'system', `revision ${d.revision} serving: ${tools.length} tool${tools.length === 1 ? '' : 's'}`);
    this.health.reset(id);
  }

  private drainMs(): number {
    return this.deps.drainMs ?? 30_000;
  }

  /** Lets an old endpoint finish its in-flight requests (up to the drain time), then closes it. */
  private async drain(id: string, old: Active): Promise<void> {
    const deadline = Date.now() + this.drainMs();
    while (Date.now() < deadline && old.endpoint.stats().inFlight > 0 && !this.stopped) await new Promise((r) => setTimeout(r, 50));
    await old.endpoint.close().catch((err: unknown) => this.deps.log?.('close failed', { id, error: String(err) }));
    this.deps.logs.append(id, 'system', `revision ${old.revision} stopped`);
  }

  private async failureMessage(d: Deployment, message: string): Promise<string> {
    if (d.spec.type === 'url') return message;
    // The status message is all an API or UI user sees: name the server's own complaint.
    const hint = stderrHint(await this.deps.logs.read(d.id, { tail: 200 }).catch(() => []));
    return hint ? `${message} (stderr: ${hint})` : message;
  }

  private async deactivate(id: string): Promise<void> {
    const a = this.active.get(id);
    if (!a) return;
    a.closing = true;
    this.active.delete(id);
    this.health.forget(id);
    await a.endpoint.close().catch((err: unknown) => this.deps.log?.('close failed', { id, error: String(err) }));
    this.deps.logs.append(id, 'system', 'stopped');
  }

  private bridgeEvents(id: string, active: Active): BridgeEvents {
    const current = () => this.active.get(id) === active && !active.closing;
    return {
      onProcessReady: ({ pid, instanceKey }) => {
        if (!current()) return;
        this.deps.logs.append(id, 'system', `process ${pid} ready (${instanceKey})`);
        if (active.rolling && instanceKey !== active.sharedKey && /^main-\d+$/.test(instanceKey)) {
          active.trialKey = instanceKey; // the new revision's process, on trial until the swap resolves
          return;
        }
        if (active.idle) {
          active.idle = false;
          this.health.reset(id);
        }
        if (instanceKey === active.sharedKey && active.ready) void this.statusIfRunning(id, 'running', null);
      },
      onProcessExit: ({ pid, instanceKey, exit, expected }) => {
        if (!current() || expected) return;
        // A trial process of a swap that dies fails that swap (the rollout reports it), not the deployment.
        if (active.rolling && instanceKey !== active.sharedKey && /^main-\d+$/.test(instanceKey)) return;
        const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
        this.lastExits.set(id, { at: new Date().toISOString(), pid, instance_key: instanceKey, exit: how, reason: exit.reason ?? null });
        this.deps.logs.append(id, 'system', `process ${pid} (${instanceKey}) exited unexpectedly with ${how}${exit.reason ? `: ${exit.reason}` : ''}`);
        if (instanceKey !== active.sharedKey || !active.ready) return;
        void this.crashed(id, active, exit.reason ? `${exit.reason}; restarting` : `server exited with ${how}; restarting`);
      },
      onGaveUp: (reason) => {
        if (!current()) return;
        active.gaveUp = reason;
        const retry = this.retries.schedule(id, active.generation);
        this.deps.logs.append(id, 'system', `gave up: ${reason}; ${retry}`);
        void this.statusIfRunning(id, 'failed', `${reason}; ${retry}`);
      },
      onNeedsIsolation: (reason) => {
        if (!current()) return;
        const hint = `this server needs per-client features (${reason}); redeploy it with spec.mode "isolated" (berth update ${id} --isolated)`;
        this.deps.logs.append(id, 'system', hint);
        void this.deps.store.update(id, { status_message: hint }).catch(() => {});
      },
      onListChanged: () => {
        if (current() && active.ready && !active.idle) this.health.probeSoon(id);
      },
      onIdle: () => {
        if (!current()) return;
        active.idle = true;
        this.health.forget(id);
        this.deps.logs.append(id, 'system', 'idle: processes stopped (scaled to zero); the next call starts the server');
        void this.statusIfRunning(id, 'idle', 'scaled to zero; the first call starts it');
      },
      onWake: () => {
        if (current()) this.deps.logs.append(id, 'system', 'waking: a request arrived');
      },
      onSnapshot: (snapshot) => {
        if (current()) void this.deps.store.setSnapshot(id, active.revision, snapshot as unknown as Record<string, unknown>).catch(() => {});
      },
    };
  }

  private healthTargets() {
    const out: HealthTarget[] = [];
    for (const [id, a] of this.active) {
      if (a.ready && !a.closing && !a.gaveUp && !a.idle && a.health.intervalMs > 0) out.push({ id, endpoint: a.endpoint, ...a.health });
    }
    return out;
  }

  private async recordTools(id: string, tools: ToolSummary[]): Promise<void> {
    const d = await this.deps.store.get(id);
    if (d && JSON.stringify(d.tools) !== JSON.stringify(tools)) await this.deps.store.update(id, { tools });
  }

  private async onUnhealthy(id: string, failures: number, limit: number, err: unknown): Promise<void> {
    const reason = toBerthError(err).message;
    this.deps.logs.append(id, 'system', `health probe failed (${failures}/${limit}): ${reason}`);
    if (failures < limit) return;
    await this.serial(id, async () => {
      const d = await this.deps.store.get(id);
      if (!d || d.desired !== 'running' || !this.active.has(id)) return;
      await this.deps.store.update(id, { add_restarts: 1 });
      this.deps.logs.append(id, 'system', `unhealthy: ${reason}; restarting`);
      await this.deactivate(id);
      await this.activate((await this.deps.store.get(id)) ?? d);
    });
  }

  private async crashed(id: string, active: Active, message: string): Promise<void> {
    await this.deps.store.update(id, { add_restarts: 1 });
    // The bridge may have given up on this very exit: then `failed` stands.
    if (!active.gaveUp) await this.statusIfRunning(id, 'deploying', message);
  }

  /** A status change reported by a bridge: applied only while the deployment should run and the change is allowed. */
  private async statusIfRunning(id: string, status: DeploymentStatus, message: string | null): Promise<void> {
    const d = await this.deps.store.get(id);
    if (!d || d.desired !== 'running' || d.status === status || !canTransition(d.status, status)) return;
    await this.setStatus(d, status, message, status === 'running' ? { started_at: new Date().toISOString() } : {});
  }

  private async observed(d: Deployment): Promise<void> {
    if (d.observed_generation !== d.generation) await this.deps.store.update(d.id, { observed_generation: d.generation });
  }

  /** The one place a status is written: the move is checked against the status machine. */
  private async setStatus(d: Deployment, status: DeploymentStatus, message: string | null, extra: DeploymentPatch = {}): Promise<void> {
    const cur = (await this.deps.store.get(d.id))?.status ?? d.status;
    assertTransition(d.id, cur, status);
    await this.deps.store.update(d.id, { status, status_message: message, ...extra });
    await this.publishStatus(d.id, status, message);
  }

  private publishStatus(id: string, status: DeploymentStatus, message: string | null): Promise<void> {
    return this.deps.bus.publish({ type: 'DeploymentStatusChanged', id, status, message, at: new Date().toISOString() });
  }
}

function scaledToZero(d: Deployment): boolean {
  return d.spec.type === 'process' && d.spec.scale?.min === 0;
}

/** What a swap inside a bridge cannot change: the kind of endpoint and the bridge mode. */
function shapeOf(d: Deployment): string {
  return d.spec.type === 'process' ? `process/${d.spec.mode}` : d.spec.type;
}


function describeSpec(d: Deployment): string {
  const s = d.spec;
  if (s.type === 'url') return `remote ${s.endpoint}`;
  if (s.type === 'package') return `${s.registry} package ${s.name}@${s.version ?? 'latest'}${s.args.length > 0 ? ` ${s.args.join(' ')}` : ''}${s.mode === 'isolated' ? ', isolated mode' : ''}`;
  if (s.type === 'source') return `${sourceLabel(s.source)}${s.mode === 'isolated' ? ', isolated mode' : ''}`;
  if (s.type === 'image') return `image ${s.image}${s.mode === 'isolated' ? ', isolated mode' : ''}`;
  return `${[s.command, ...s.args].join(' ')}${s.mode === 'isolated' ? ', isolated mode' : ''}`;
}

export function withTimeout<T>(p: Promise<T>, ms: number, message = `timed out after ${ms}ms`): Promise<T> {
  return settleWithin(p, ms, () => new BerthError('UPSTREAM_TIMEOUT', message));
}
