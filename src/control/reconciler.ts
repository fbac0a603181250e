import type { LastExitView } from '../core/views.js';
import { BerthError, toBerthError } from '../core/errors.js';
import type { Deployment, DeploymentStatus, ToolSummary } from '../core/index.js';
import type { EventBus } from '../events/types.js';
import type { BridgeEvents, EndpointStats, McpEndpoint } from '../mcp/types.js';
import type { Runtime } from '../runtime/types.js';
import type { DeploymentPatch, DeploymentStore } from '../store/types.js';
import type { LogStore } from '../telemetry/logs.js';
import { HealthMonitor, type HealthTarget } from './health.js';
import { startingLine, stderrHint } from './stderr-hint.js';

/** An MCP endpoint the control plane can start (bridge or remote proxy). */
export interface ManagedEndpoint extends McpEndpoint {
  start(): Promise<void>;
}
export type EndpointFactory = (d: Deployment, events: BridgeEvents) => ManagedEndpoint;

/** The process key the shared bridge uses for its one process; only its exits change the deployment's status. */
export const SHARED_INSTANCE_KEY = 'main';

interface Active {
  endpoint: ManagedEndpoint;
  ready: boolean;
  whenReady: Promise<void>;
  gaveUp: string | null;
  closing: boolean;
  health: { intervalMs: number; timeoutMs: number; failuresBeforeRestart: number };
}

export interface ReconcilerDeps {
  store: DeploymentStore;
  logs: LogStore;
  bus: EventBus;
  runtime: Pick<Runtime, 'reapOrphans' | 'stopAll'>;
  makeEndpoint: EndpointFactory;
  startTimeoutMs: number;
  stopGraceMs: number;
  /** Tick of the health monitor; tests shorten it. */
  healthTickMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * Converges what runs to what the store says should run (desired state), one deployment at a time.
 * Domain events only wake it early: every pass re-reads the store, so a lost event costs nothing.
 */
export class Reconciler {
  private readonly active = new Map<string, Active>();
  private readonly locks = new Map<string, Promise<void>>();
  private readonly lastExits = new Map<string, LastExitView>();
  private readonly health: HealthMonitor;
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly deps: ReconcilerDeps) {
    this.health = new HealthMonitor({
      tickMs: deps.healthTickMs ?? 1000,
      targets: () => this.healthTargets(),
      onHealthy: (id, tools) => this.recordTools(id, tools),
      onUnhealthy: (id, failures, limit, err) => this.onUnhealthy(id, failures, limit, err),
    });
  }

  /** Ends orphans of a previous run, brings every deployment to its desired state, then listens for events. */
  async start(): Promise<void> {
    const reaped = await this.deps.runtime.reapOrphans();
    for (const r of reaped) this.deps.logs.append(r.deploymentId, 'system', `ended process ${r.pid} left over from a previous Berth run`);
    this.unsubscribe = this.deps.bus.subscribe((e) => {
      if (e.type === 'DeploymentCreated' || e.type === 'DeploymentDesiredChanged') void this.reconcile(e.id);
    });
    const all = await this.deps.store.list();
    await Promise.all(all.map((d) => this.reconcile(d.id)));
    this.health.start();
  }

  /** Runs one reconcile pass for `id`, after any pass already queued for it. */
  reconcile(id: string): Promise<void> {
    return this.serial(id, () => this.pass(id));
  }

  /**
   * The endpoint for a gateway request: immediate when running, waits while starting,
   * and fails with a clear code when the deployment is unknown, stopped or failed.
   */
  async endpointFor(id: string): Promise<McpEndpoint> {
    const a = this.active.get(id);
    if (a && a.ready && !a.gaveUp && !a.closing) return a.endpoint;
    if (a && a.gaveUp) throw new BerthError('UPSTREAM_UNAVAILABLE', `Deployment ${id} has failed: ${a.gaveUp}`);
    const d = await this.deps.store.get(id);
    if (!d || d.status === 'deleted' || d.desired === 'deleted') throw new BerthError('DEPLOYMENT_NOT_FOUND', `No deployment with id ${id}`);
    if (d.desired === 'stopped') throw new BerthError('UPSTREAM_UNAVAILABLE', `Deployment ${id} is stopped; start it with: berth start ${id}`);
    if (d.status === 'failed') throw new BerthError('UPSTREAM_UNAVAILABLE', `Deployment ${id} has failed: ${d.status_message ?? 'unknown reason'}`);
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

  /** The deployment's last unexpected process exit since Berth started, if any. */
  lastExit(id: string): LastExitView | null {
    return this.lastExits.get(id) ?? null;
  }

  stats(id: string): EndpointStats {
    return this.active.get(id)?.endpoint.stats() ?? { sessions: 0, processes: 0, inFlight: 0 };
  }

  /** Berth is shutting down: stop everything that runs but leave the desired state as it is. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.health.stop();
    await Promise.allSettled([...this.locks.values()]);
    await Promise.allSettled([...this.active.keys()].map((id) => this.deactivate(id)));
    await this.deps.runtime.stopAll(this.deps.stopGraceMs);
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
    const a = this.active.get(id);
    if (!d) {
      if (a) await this.deactivate(id);
      return;
    }
    if (d.desired === 'deleted') {
      if (a) await this.deactivate(id);
      if (d.status !== 'deleted') {
        await this.setStatus(d, 'deleted', null, { deleted_at: new Date().toISOString(), started_at: null });
        await this.deps.bus.publish({ type: 'DeploymentDeleted', id, at: new Date().toISOString() });
      }
      return;
    }
    if (d.desired === 'stopped') {
      if (a) await this.deactivate(id);
      if (d.status !== 'stopped') await this.setStatus(d, 'stopped', null, { stopped_at: new Date().toISOString(), started_at: null });
      return;
    }
    // desired running
    if (a && !a.gaveUp && d.status !== 'pending' && d.status !== 'failed') return;
    if (!a && d.status === 'failed') return; // stays failed until the user starts it again
    if (a) await this.deactivate(id);
    await this.activate(d);
  }

  private async activate(d: Deployment): Promise<void> {
    const id = d.id;
    await this.setStatus(d, 'deploying', 'starting');
    this.deps.logs.append(id, 'system', startingLine(describeSpec(d)));
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
      ready: false,
      whenReady,
      gaveUp: null,
      closing: false,
      health: { intervalMs: h.interval_s * 1000, timeoutMs: h.timeout_s * 1000, failuresBeforeRestart: h.failures_before_restart },
    };
    active.endpoint = this.deps.makeEndpoint(d, this.bridgeEvents(id, active));
    this.active.set(id, active);
    try {
      await withTimeout(active.endpoint.start(), this.deps.startTimeoutMs, `did not start within ${Math.round(this.deps.startTimeoutMs / 1000)}s`);
      const { tools } = await active.endpoint.probe(Math.min(this.deps.startTimeoutMs, d.spec.health.timeout_s * 1000));
      active.ready = true;
      markReady();
      await this.deps.store.update(id, { status: 'running', status_message: null, tools, started_at: new Date().toISOString(), stopped_at: null });
      await this.publishStatus(id, 'running', null);
      this.deps.logs.append(id, 'system', `ready: ${tools.length} tool${tools.length === 1 ? '' : 's'} (${tools.map((t) => t.name).join(', ')})`);
      this.health.reset(id);
    } catch (err) {
      let message = `failed to start: ${toBerthError(err).message}`;
      if (d.spec.type === 'process') {
        // The status message is all an API or UI user sees: name the server's own complaint.
        const hint = stderrHint(await this.deps.logs.read(id, { tail: 200 }).catch(() => []));
        if (hint) message += ` (stderr: ${hint})`;
      }
      markFailed(err);
      active.closing = true;
      this.active.delete(id);
      await active.endpoint.close().catch(() => {});
      this.deps.logs.append(id, 'system', message);
      const fresh = await this.deps.store.get(id);
      if (fresh && fresh.desired === 'running') await this.setStatus(fresh, 'failed', message);
    }
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
        if (instanceKey === SHARED_INSTANCE_KEY && active.ready) void this.updateIfRunning(id, 'running', null);
      },
      onProcessExit: ({ pid, instanceKey, exit, expected }) => {
        if (!current() || expected) return;
        const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
        this.lastExits.set(id, { at: new Date().toISOString(), pid, instance_key: instanceKey, exit: how, reason: exit.reason ?? null });
        this.deps.logs.append(id, 'system', `process ${pid} (${instanceKey}) exited unexpectedly with ${how}${exit.reason ? `: ${exit.reason}` : ''}`);
        if (instanceKey !== SHARED_INSTANCE_KEY || !active.ready) return;
        void this.bumpRestarts(id, exit.reason ? `${exit.reason}; restarting` : `server exited with ${how}; restarting`);
      },
      onGaveUp: (reason) => {
        if (!current()) return;
        active.gaveUp = reason;
        this.deps.logs.append(id, 'system', `gave up: ${reason}`);
        void this.updateIfRunning(id, 'failed', reason);
      },
      onNeedsIsolation: (reason) => {
        if (!current()) return;
        const hint = `this server needs per-client features (${reason}); redeploy it with spec.mode "isolated" (berth deploy --isolated)`;
        this.deps.logs.append(id, 'system', hint);
        void this.deps.store.update(id, { status_message: hint }).catch(() => {});
      },
      onListChanged: () => {
        if (current() && active.ready) this.health.probeSoon(id);
      },
    };
  }

  private healthTargets() {
    const out: HealthTarget[] = [];
    for (const [id, a] of this.active) {
      if (a.ready && !a.closing && !a.gaveUp && a.health.intervalMs > 0) out.push({ id, endpoint: a.endpoint, ...a.health });
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
    const d = await this.deps.store.get(id);
    if (!d || d.desired !== 'running') return;
    await this.deps.store.update(id, { restart_count: d.restart_count + 1, status: 'pending', status_message: `unhealthy: ${reason}; restarting` });
    await this.reconcile(id);
  }

  private async bumpRestarts(id: string, message: string): Promise<void> {
    const d = await this.deps.store.get(id);
    if (!d || d.desired !== 'running') return;
    await this.deps.store.update(id, { restart_count: d.restart_count + 1, status: 'deploying', status_message: message });
    await this.publishStatus(id, 'deploying', message);
  }

  private async updateIfRunning(id: string, status: DeploymentStatus, message: string | null): Promise<void> {
    const d = await this.deps.store.get(id);
    if (!d || d.desired !== 'running' || d.status === status) return;
    await this.setStatus(d, status, message, status === 'running' ? { started_at: new Date().toISOString() } : {});
  }

  private async setStatus(d: Deployment, status: DeploymentStatus, message: string | null, extra: DeploymentPatch = {}): Promise<void> {
    await this.deps.store.update(d.id, { status, status_message: message, ...extra });
    await this.publishStatus(d.id, status, message);
  }

  private publishStatus(id: string, status: DeploymentStatus, message: string | null): Promise<void> {
    return this.deps.bus.publish({ type: 'DeploymentStatusChanged', id, status, message, at: new Date().toISOString() });
  }
}

function describeSpec(d: Deployment): string {
  const s = d.spec;
  if (s.type === 'url') return `remote ${s.endpoint}`;
  return `${[s.command, ...s.args].join(' ')}${s.mode === 'isolated' ? ', isolated mode' : ''}`;
}

export function withTimeout<T>(p: Promise<T>, ms: number, message = `timed out after ${ms}ms`): Promise<T> {
  if (ms <= 0) return Promise.reject(new BerthError('UPSTREAM_TIMEOUT', message));
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new BerthError('UPSTREAM_TIMEOUT', message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
