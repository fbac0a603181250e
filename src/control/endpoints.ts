/**
 * The endpoint factory: what serves a deployment's MCP traffic. A url deployment gets a remote endpoint; a
 * process deployment becomes a workload (`runtime.ensure`), and its endpoint follows from the address the
 * runtime gives: `stdio` → Berth's own bridge (shared or isolated) over the workload's spawn; `http` → a proxy
 * to the bridge inside the workload, allowed to connect to exactly that URL.
 * Secret references are resolved at each start (a missing one fails that start), never stored resolved.
 */
import type { Deployment, ProcessSpec } from '../core/index.js';
import { createIsolatedBridge } from '../mcp/isolated.js';
import { AutoEndpoint } from '../mcp/remote/auto-endpoint.js';
import { exactOrigin } from '../mcp/remote/exact-origin.js';
import type { ConnectGuard } from '../mcp/remote/ssrf.js';
import { createSharedBridge } from '../mcp/shared.js';
import type { BridgeEvents, BridgeOptions, BridgeTiming, OutboundPressure, RestartPolicy, SessionLimits } from '../mcp/types.js';
import { ownerLabels, type Workload, type WorkloadAddress, type WorkloadRuntime } from '../runtime/types.js';
import { DeferredEndpoint } from './deferred-endpoint.js';
import { launchEnv, type ResolveSecrets } from './env.js';
import { launchPolicy } from './launch-policy.js';
import type { EndpointFactory, ManagedEndpoint } from './reconciler.js';

export interface EndpointDeps {
  runtime: Pick<WorkloadRuntime, 'ensure' | 'stop'>;
  /** A deployment log line (bridge lifecycle, remote detection). */
  log(deploymentId: string, line: string): void;
  resolveSecrets: ResolveSecrets;
  /** The SSRF guard for url deployments (BERTH_REMOTE_ALLOW). */
  remoteGuard: ConnectGuard;
  limits: SessionLimits;
  restart: RestartPolicy;
  version: string;
  maxStdinBytes: number;
  pressure?: OutboundPressure;
  timing: BridgeTiming;
  /** Most processes an isolated deployment may run (BERTH_MAX_SESSIONS). */
  maxSessions: number;
}

/** The revision a deployment runs (1 until deployments carry revisions). */
export function revisionOf(d: Deployment): number {
  const r = (d as Deployment & { revision?: unknown }).revision;
  return typeof r === 'number' && Number.isSafeInteger(r) && r > 0 ? r : 1;
}

/** A process deployment as the runtime sees it: its revision's launch, labels and bridge mode. */
export function workloadOf(d: Deployment & { spec: ProcessSpec }, env: Record<string, string>, maxSessions: number): Workload {
  const spec = d.spec;
  const revision = revisionOf(d);
  return {
    deploymentId: d.id,
    revision,
    labels: ownerLabels(d.id, revision),
    launch: { command: spec.command, args: spec.args, env, ...launchPolicy(spec) },
    bridge: spec.mode === 'isolated' ? { mode: 'isolated', warm: spec.isolated.warm, max: Math.min(spec.isolated.max_sessions, maxSessions) } : { mode: 'shared' },
  };
}

/** A deferred endpoint that also ends its workload when it closes (an HTTP workload runs apart from its endpoint). */
class WorkloadEndpoint extends DeferredEndpoint {
  private closing = false;

  constructor(
    prepare: () => Promise<ManagedEndpoint>,
    private readonly end: () => Promise<void>,
  ) {
    super(prepare);
  }

  override async start(): Promise<void> {
    try {
      await super.start();
    } catch (err) {
      // Closed while the workload was being made: what ensure started after close() ran is ended here.
      if (this.closing) await this.end().catch(() => {});
      throw err;
    }
  }

  override async close(): Promise<void> {
    this.closing = true;
    try {
      await super.close();
    } finally {
      await this.end();
    }
  }
}

export function createEndpointFactory(deps: EndpointDeps): EndpointFactory {
  const build = async (d: Deployment, events: BridgeEvents): Promise<ManagedEndpoint> => {
    const spec = d.spec;
    const log = (line: string): void => deps.log(d.id, line);
    if (spec.type === 'url') {
      const headers = await deps.resolveSecrets(d, 'spec.headers', spec.headers);
      return new AutoEndpoint({ deploymentId: d.id, endpoint: spec.endpoint, headers, guard: deps.remoteGuard, timeoutMs: spec.timeout_s * 1000, transport: spec.transport ?? 'auto', limits: deps.limits, restart: deps.restart, events, log, version: deps.version });
    }
    const env = await launchEnv(d, deps.resolveSecrets);
    const workload = workloadOf(d as Deployment & { spec: ProcessSpec }, env, deps.maxSessions);
    const { address } = await deps.runtime.ensure(workload);
    return endpointFor(d, address, workload, events, log);
  };

  const endpointFor = (d: Deployment, address: WorkloadAddress, workload: Workload, events: BridgeEvents, log: (line: string) => void): ManagedEndpoint => {
    if (address.kind === 'http') {
      // The bridge inside the workload speaks every revision and legacy SSE; the proxy goes straight to it.
      return new AutoEndpoint({
        deploymentId: d.id,
        endpoint: address.url,
        headers: address.headers,
        guard: exactOrigin(address.url),
        timeoutMs: deps.limits.requestTimeoutMs,
        transport: 'auto',
        limits: deps.limits,
        restart: deps.restart,
        events,
        log,
        version: deps.version,
      });
    }
    const opts: BridgeOptions = {
      deploymentId: d.id,
      spawn: address.spawn,
      restart: deps.restart,
      limits: deps.limits,
      events,
      version: deps.version,
      log,
      maxStdinBytes: deps.maxStdinBytes,
      ...(deps.pressure ? { pressure: deps.pressure } : {}),
      timing: deps.timing,
    };
    const mode = workload.bridge;
    if (mode?.mode === 'isolated') {
      const spec = d.spec as ProcessSpec;
      return createIsolatedBridge({ ...opts, isolated: { warm: mode.warm, max: mode.max, prime: spec.mode === 'isolated' ? spec.isolated.prime : undefined } });
    }
    return createSharedBridge(opts);
  };

  return (d, events) =>
    new WorkloadEndpoint(
      () => build(d, events),
      async () => {
        if (d.spec.type === 'process') await deps.runtime.stop(d.id, { revision: revisionOf(d) });
      },
    );
}
