/**
 * The endpoint factory: what serves a deployment's MCP traffic. A url deployment gets a remote endpoint; a
 * process deployment becomes a workload (`runtime.ensure`), and its endpoint follows from the address the
 * runtime gives: `stdio` → Berth's own bridge (shared or isolated) over the workload's spawn; `http` with Berth's
 * bridge program inside (`bridged`) → Berth's bridge over channels to it, so sessions outlive a revision switch;
 * any other `http` → a proxy to the server, allowed to connect to exactly that URL.
 * Secret references are resolved at each start (a missing one fails that start), never stored resolved.
 */
import { BerthError } from '../core/errors.js';
import type { Deployment, HostedSpec, ImageSpec, SourceSpec, WorkloadRuntimeName } from '../core/index.js';
import type { PackageCache } from '../packages/index.js';
import { packageLaunch } from './package-launch.js';
import { createIsolatedBridge } from '../mcp/bridge/isolated.js';
import { exactOrigin } from '../mcp/remote/exact-origin.js';
import type { ConnectGuard } from '../mcp/remote/ssrf.js';
import type { WorkloadChannels } from '../mcp/remote/workload-channels.js';
import { createSharedBridge } from '../mcp/bridge/shared.js';
import type { BridgeEvents, BridgeOptions, BridgeTiming, OutboundPressure, RestartPolicy, ServerSnapshot, SessionLimits, SpawnProcess } from '../mcp/types.js';
import type { ToolSummary } from '../core/index.js';
import { ownerLabels, type Workload, type WorkloadAddress, type WorkloadImage, type WorkloadRuntime } from '../runtime/types.js';
import { DeferredEndpoint } from './deferred-endpoint.js';
import { launchEnv, type ResolveSecrets } from './env.js';
import { launchPolicy, runtimeOf } from './launch-policy.js';
import type { EndpointExtras, EndpointFactory, ManagedEndpoint } from './reconciler.js';

/** A bridge that can move onto a new revision's processes without ending sessions (src/mcp SharedBridge, IsolatedBridge). */
interface Swappable {
  swap(spawn: SpawnProcess, opts?: { drainMs?: number }): Promise<{ tools: ToolSummary[] }>;
}

function swappable(e: ManagedEndpoint | null): (ManagedEndpoint & Swappable) | null {
  return e !== null && typeof (e as Partial<Swappable>).swap === 'function' ? (e as ManagedEndpoint & Swappable) : null;
}

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
  /** The shared package cache (package specs are installed there once, then run directly). */
  packages: PackageCache;
  /** A deployment's progress while it starts (e.g. `installing NAME@VER…`), shown as its status message. */
  progress(deploymentId: string, message: string): void;
  /**
   * Turns a source or image spec into what its runtime launches: a source installed into its revision's workspace
   * (process) or built into the revision's image (container); an image as it is. Absent: such specs cannot start.
   */
  prepare?: (d: Deployment & { spec: SourceSpec | ImageSpec }, ctx: { log: (line: string) => void; progress: (message: string) => void }) => Promise<HostedLaunch>;
  /** The runtime a spec without `runtime` runs on (BERTH_DEFAULT_RUNTIME). */
  defaultRuntime?: WorkloadRuntimeName;
}

/** The revision a deployment's spec is. */
export function revisionOf(d: Deployment): number {
  return d.revision;
}

/** What runs for a hosted spec: a process spec's command, a package's executable from the cache, a built source, an image. */
export interface HostedLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
  internalMounts: string[];
  /** A container's image (container runtime). */
  image?: WorkloadImage;
  /** A source revision's workspace, its working directory (process runtime). */
  workspace?: string;
}

/** A hosted deployment as the runtime sees it: its revision's launch, labels and bridge mode. */
export function workloadOf(d: Deployment & { spec: HostedSpec }, launch: HostedLaunch, maxSessions: number, defaultRuntime: WorkloadRuntimeName = 'process'): Workload {
  const spec = d.spec;
  const revision = revisionOf(d);
  return {
    deploymentId: d.id,
    revision,
    labels: ownerLabels(d.id, revision),
    runtime: runtimeOf(spec, defaultRuntime),
    launch: { ...launch, ...launchPolicy(spec) },
    bridge: spec.mode === 'isolated' ? { mode: 'isolated', warm: spec.isolated.warm, max: Math.min(spec.isolated.max_sessions, maxSessions, spec.scale?.max ?? Infinity) } : { mode: 'shared' },
  };
}

/**
 * A deferred endpoint that also ends its workloads when it closes (an HTTP workload runs apart from its endpoint),
 * and moves a stdio bridge onto a new revision in place (`update`): the revision's workload is ensured, the bridge
 * swaps onto its spawn, and the old revision's workload is ended.
 */
class WorkloadEndpoint extends DeferredEndpoint {
  private closing = false;
  /** Revisions whose workloads this endpoint has started (more than one only during an update). */
  private readonly revisions = new Set<number>();

  constructor(
    revision: number,
    prepare: () => Promise<ManagedEndpoint>,
    private readonly end: (revision: number) => Promise<void>,
    private readonly spawnFor: ((d: Deployment) => Promise<SpawnProcess | null>) | null,
    /** Resolves once nothing of `revision` runs in the bridge any more (its channels closed); null: not known. */
    private readonly drained: (revision: number) => Promise<void> | null = () => null,
  ) {
    super(prepare);
    this.revisions.add(revision);
  }

  async update(d: Deployment, opts: { drainMs: number }): Promise<{ tools: ToolSummary[] } | undefined> {
    const bridge = swappable(this.inner);
    if (!bridge || !this.spawnFor || this.closing) return undefined;
    const spawn = await this.spawnFor(d);
    if (spawn === null) return undefined;
    const revision = revisionOf(d);
    const before = [...this.revisions];
    this.revisions.add(revision);
    try {
      const out = await bridge.swap(spawn, { drainMs: opts.drainMs });
      // The bridge stops the old processes itself once their requests are answered (or at drainMs): ending the old
      // revisions' workloads now would cut those requests off. What the runtime keeps for them is ended after that:
      // as soon as the bridge let go of them where that is known (an HTTP workload's channels), else after drainMs.
      for (const r of before.filter((r) => r !== revision)) {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, opts.drainMs + 1000);
          timer.unref();
        });
        void Promise.race([late, this.drained(r) ?? late]).then(() => {
          clearTimeout(timer);
          if (this.revisions.delete(r)) void this.end(r).catch(() => undefined);
        });
      }
      return out;
    } catch (err) {
      this.revisions.delete(revision);
      await this.end(revision).catch(() => undefined);
      throw err;
    }
  }

  override async start(): Promise<void> {
    try {
      await super.start();
    } catch (err) {
      // Closed while the workload was being made: what ensure started after close() ran is ended here.
      if (this.closing) await this.endAll().catch(() => {});
      throw err;
    }
  }

  override async close(): Promise<void> {
    this.closing = true;
    try {
      await super.close();
    } finally {
      await this.endAll();
    }
  }

  private async endAll(): Promise<void> {
    await Promise.all([...this.revisions].map((r) => this.end(r)));
  }
}

export function createEndpointFactory(deps: EndpointDeps): EndpointFactory {
  /** Ensures `d`'s revision as a workload; its address. */
  const ensure = async (d: Deployment & { spec: HostedSpec }): Promise<{ address: WorkloadAddress; workload: Workload }> => {
    const spec = d.spec;
    const log = (line: string): void => deps.log(d.id, line);
    const progress = (m: string): void => deps.progress(d.id, m);
    // A package is installed into the shared cache (once) and its executable run directly; a source is installed
    // into its revision's workspace or built into an image, an image is run as it is (deps.prepare).
    let launch: HostedLaunch;
    if (spec.type === 'package') launch = await packageLaunch(spec, { cache: deps.packages, log, progress, inContainer: runtimeOf(spec, deps.defaultRuntime) === 'container' });
    else if (spec.type === 'process') launch = { command: spec.command, args: spec.args, env: {}, internalMounts: [] };
    else if (deps.prepare) launch = await deps.prepare(d as Deployment & { spec: SourceSpec | ImageSpec }, { log, progress });
    else throw new BerthError('RUNTIME_UNAVAILABLE', `spec.type ${spec.type} cannot be started on this Berth`);
    const env = { ...launch.env, ...(await launchEnv(d, deps.resolveSecrets)) };
    const workload = workloadOf(d, { ...launch, env }, deps.maxSessions, deps.defaultRuntime);
    const { address } = await deps.runtime.ensure(workload);
    return { address, workload };
  };

  const build = async (d: Deployment, events: BridgeEvents, snapshot: ServerSnapshot | null, channels: ChannelBook): Promise<ManagedEndpoint> => {
    const spec = d.spec;
    const log = (line: string): void => deps.log(d.id, line);
    if (spec.type === 'url') {
      const headers = await deps.resolveSecrets(d, 'spec.headers', spec.headers);
      // The remote side (undici and its pools) loads with the first url deployment, not with Berth.
      const { AutoEndpoint } = await import('../mcp/remote/auto-endpoint.js');
      return new AutoEndpoint({ deploymentId: d.id, endpoint: spec.endpoint, headers, guard: deps.remoteGuard, timeoutMs: spec.timeout_s * 1000, transport: spec.transport ?? 'auto', limits: deps.limits, restart: deps.restart, events, log, version: deps.version });
    }
    const { address, workload } = await ensure(d as Deployment & { spec: HostedSpec });
    return endpointFor(d, address, workload, events, log, snapshot, channels);
  };

  /**
   * What serves a workload at `address`. A stdio workload, and an HTTP one running Berth's bridge program
   * (`bridged`), get Berth's own bridge (shared or isolated): over the workload's spawn, or over channels to
   * the bridge inside, so the sessions are Berth's and a new revision is swapped in under them. A server
   * speaking HTTP itself is proxied (AutoEndpoint): its sessions are its own, and end with its revision.
   */
  const endpointFor = async (d: Deployment, address: WorkloadAddress, workload: Workload, events: BridgeEvents, log: (line: string) => void, snapshot: ServerSnapshot | null, channels: ChannelBook): Promise<ManagedEndpoint> => {
    if (address.kind === 'http' && !address.bridged) {
      // The remote side (undici and its pools) loads with the first such workload.
      const { AutoEndpoint } = await import('../mcp/remote/auto-endpoint.js');
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
    const http = address.kind === 'http';
    const opts: BridgeOptions = {
      deploymentId: d.id,
      spawn: http ? await channels.open(workload.revision, address, log) : address.spawn,
      restart: deps.restart,
      limits: deps.limits,
      events,
      version: deps.version,
      log,
      maxStdinBytes: deps.maxStdinBytes,
      ...(deps.pressure ? { pressure: deps.pressure } : {}),
      timing: deps.timing,
      // Scale to zero: stop after idle_s without requests; answer listing from what the revision last reported.
      // (An HTTP workload runs on while its channel sleeps: it is not scaled down, so it gets no idle clock.)
      ...(!http && d.spec.type !== 'url' && d.spec.scale?.min === 0 ? { scale: { idleMs: d.spec.scale.idle_s * 1000, snapshot } } : {}),
    };
    const mode = workload.bridge;
    if (mode?.mode === 'isolated') {
      const spec = d.spec as HostedSpec;
      // Over channels the workload's own bridge keeps the warm pool of processes: a channel is opened for a client.
      const isolated = http ? { warm: 0, maxWarm: 0, max: mode.max, prime: false } : { warm: mode.warm, max: mode.max, ...(spec.isolated.max_warm === undefined ? {} : { maxWarm: spec.isolated.max_warm }), prime: spec.isolated.prime };
      return createIsolatedBridge({ ...opts, isolated });
    }
    const shared = d.spec.type === 'url' ? undefined : (d.spec as HostedSpec).shared;
    return createSharedBridge(shared?.client_features === false ? { ...opts, clientFeatures: false } : opts);
  };

  // A stdio address, or a bridged HTTP one, is swapped onto inside Berth's bridge; an HTTP server speaking for
  // itself is replaced by a second endpoint.
  const spawnFor = async (d: Deployment, channels: ChannelBook): Promise<SpawnProcess | null> => {
    if (d.spec.type === 'url') return null;
    const { address } = await ensure(d as Deployment & { spec: HostedSpec });
    if (address.kind === 'stdio') return address.spawn;
    if (address.bridged) return channels.open(revisionOf(d), address, (line) => deps.log(d.id, line));
    await deps.runtime.stop(d.id, { revision: revisionOf(d) });
    return null;
  };

  return (d: Deployment, events: BridgeEvents, extras?: EndpointExtras) => {
    const channels = new ChannelBook(deps.limits.requestTimeoutMs);
    return new WorkloadEndpoint(
      revisionOf(d),
      // Stored JSON: the bridge checks its shape (isServerSnapshot) and ignores a malformed one.
      () => build(d, events, (extras?.snapshot ?? null) as ServerSnapshot | null, channels),
      async (revision) => {
        try {
          if (d.spec.type !== 'url') await deps.runtime.stop(d.id, { revision });
        } finally {
          await channels.end(revision);
        }
      },
      (next) => spawnFor(next, channels),
      (revision) => channels.drained(revision),
    );
  };
}

/** The connections to each revision's bridged HTTP workload (one endpoint's), closed when that revision ends. */
class ChannelBook {
  private readonly byRevision = new Map<number, { url: string; channels: WorkloadChannels }>();

  constructor(private readonly timeoutMs: number) {}

  async open(revision: number, address: WorkloadAddress & { kind: 'http' }, log: (line: string) => void): Promise<SpawnProcess> {
    const known = this.byRevision.get(revision);
    if (known?.url === address.url) return known.channels.spawn;
    if (known) await known.channels.close();
    const { WorkloadChannels } = await import('../mcp/remote/workload-channels.js');
    const channels = new WorkloadChannels({ url: address.url, headers: address.headers, timeoutMs: this.timeoutMs, log });
    this.byRevision.set(revision, { url: address.url, channels });
    return channels.spawn;
  }

  /** Resolves when no channel to `revision`'s workload is open; null for a revision with no channels (a stdio one). */
  drained(revision: number): Promise<void> | null {
    return this.byRevision.get(revision)?.channels.drained() ?? null;
  }

  async end(revision: number): Promise<void> {
    const known = this.byRevision.get(revision);
    this.byRevision.delete(revision);
    await known?.channels.close();
  }
}
