import type { DeploymentStatusView, UsageView } from '../core/views.js';
import { BerthError } from '../core/errors.js';
import { CreateDeploymentSchema, newDeploymentId, parseOrThrow, type Deployment, type DeploymentAccess, type DeploymentView, type PackageSpec, type SourceSpec } from '../core/index.js';
import type { EventBus } from '../events/types.js';
import type { LaunchPolicy, Runtime, WorkloadStats } from '../runtime/types.js';
import type { DeploymentStore } from '../store/types.js';
import type { LogEntry, LogStore } from '../telemetry/logs.js';
import { checkEnvAgainstSchema } from './env.js';
import { launchPolicy, runtimeOf } from './launch-policy.js';
import type { Reconciler } from './reconciler.js';
import type { RequestCounter } from './request-counter.js';
import { withSecretRefs, type SecretsService } from './secrets.js';
import { endpointUrl, toView, uptimeSeconds } from './views.js';

export interface DeploymentServiceDeps {
  store: DeploymentStore;
  logs: LogStore;
  bus: EventBus;
  reconciler: Pick<Reconciler, 'reconcile' | 'stats' | 'lastExit' | 'forgetOnDelete' | 'retryNow' | 'scaleView'>;
  /** Deploy-time checks of a process spec's sandbox policy, and what status reports of it. */
  runtime: Pick<Runtime, 'admit' | 'isolation'>;
  counter: Pick<RequestCounter, 'unflushed'>;
  secrets: Pick<SecretsService, 'checkRefs' | 'storeNew' | 'dropScope'>;
  publicUrl: string;
  /** Refuses (REMOTE_ADDRESS_FORBIDDEN) a url deployment's endpoint whose literal address Berth may not connect to. */
  checkRemote: (endpoint: string) => void;
  /** What each running revision of a deployment uses now (WorkloadRuntime.stats); absent: status shows none. */
  workloadStats?: (deploymentId: string) => Promise<WorkloadStats[]>;
  /** BERTH_DEFAULT_RUNTIME: the runtime of a spec without `runtime` (status shows it). */
  defaultRuntime?: 'process' | 'container';
  /** Resolves when the runtime a policy names can run it (the container engine answers); rejects with ENGINE_UNAVAILABLE. */
  runtimeReady?: (policy: LaunchPolicy) => Promise<void>;
  /** A package spec with its exact version (pinPackageSpec): what is stored, so a restart runs the same package. */
  pinPackage?: (spec: PackageSpec) => Promise<PackageSpec>;
  /**
   * A source spec pinned to a stored tree that detection accepts (pinSourceSpec): an upload's digest checked, a git
   * source fetched and its commit and digest written in; SOURCE_NOT_FOUND / SOURCE_INVALID otherwise.
   */
  pinSource?: (spec: SourceSpec, ctx: { deploymentId: string; log(line: string): void }) => Promise<SourceSpec>;
}

/** Who asked, for the revision's `created_by` (a token id, `env`, `bootstrap`). */
export type Actor = string | null;

/**
 * The deployment use-cases behind the API and CLI. Writes what the user wants (desired state, revisions,
 * generation); the reconciler, the only writer of status, does the rest. Every method takes a name or an id.
 */
export class DeploymentService {
  /** Access of deployments seen so far; changed only through `update` (which refreshes it) and forgotten at deletion. */
  private readonly access = new Map<string, DeploymentAccess>();

  constructor(readonly deps: DeploymentServiceDeps) {}

  /** A deployment's access (`private` or `public`), or undefined when there is no such deployment. Cached. */
  async accessOf(id: string): Promise<DeploymentAccess | undefined> {
    const known = this.access.get(id);
    if (known !== undefined) return known;
    const d = await this.deps.store.get(id);
    if (!d || d.status === 'deleted' || d.desired === 'deleted') return undefined;
    this.access.set(id, d.access);
    return d.access;
  }

  /** Forgets the cached access of `id` (its access changed). */
  accessChanged(id: string): void {
    this.access.delete(id);
  }

  /** Checks a spec against the schema, the sandbox policy, the SSRF guard and the secret store; returns the spec with references. */
  async admitSpec(id: string, input: { spec: Deployment['spec']; env_schema: Deployment['env_schema']; secrets?: Record<string, string> }): Promise<{ spec: Deployment['spec']; values: Map<string, string> }> {
    // Secret values leave the spec here: it keeps references, the values go to the secret store.
    const refd = withSecretRefs(id, input.spec, input.secrets);
    const values = refd.values;
    let spec = refd.spec;
    checkEnvAgainstSchema(spec, input.env_schema);
    if (spec.type === 'url') this.deps.checkRemote(spec.endpoint);
    if (spec.type !== 'url') {
      const policy = launchPolicy(spec);
      this.deps.runtime.admit(policy);
      // A container deployment with no engine to run it fails here (ENGINE_UNAVAILABLE), not at its first start.
      await this.deps.runtimeReady?.(policy);
    }
    if (spec.type === 'package') {
      if (!this.deps.pinPackage) throw new BerthError('VALIDATION_FAILED', 'spec.type: package deployments are not enabled on this Berth');
      spec = await this.deps.pinPackage(spec);
    }
    if (spec.type === 'source') {
      if (!this.deps.pinSource) throw new BerthError('RUNTIME_UNAVAILABLE', 'spec.type: source deployments are not enabled on this Berth');
      spec = await this.deps.pinSource(spec, { deploymentId: id, log: (line) => this.deps.logs.append(id, 'system', line) });
    }
    await this.deps.secrets.checkRefs(id, spec, input.env_schema, values);
    return { spec, values };
  }

  async create(body: unknown, actor: Actor = null): Promise<DeploymentView> {
    const input = parseOrThrow(CreateDeploymentSchema, body, 'deployment');
    if (await this.deps.store.findByName(input.name)) {
      throw new BerthError('NAME_TAKEN', `Another deployment is already named ${JSON.stringify(input.name)}; pick another name, or change that one with: berth update ${input.name} …`, { name: input.name });
    }
    const id = newDeploymentId(input.name);
    const { spec, values } = await this.admitSpec(id, input);
    await this.deps.secrets.storeNew(id, values);
    let d: Deployment;
    try {
      d = await this.deps.store.create({
        id,
        name: input.name,
        access: input.access,
        description: input.description ?? null,
        tags: input.tags,
        env_schema: input.env_schema,
        spec,
        desired: input.start ? 'running' : 'stopped',
        status: input.start ? 'pending' : 'stopped',
        status_message: input.start ? 'queued' : null,
        created_by: actor,
      });
    } catch (err) {
      await this.deps.secrets.dropScope(id).catch(() => undefined);
      throw err;
    }
    this.deps.logs.append(d.id, 'system', `created ${d.name} (${d.spec.type}), revision 1`);
    await this.deps.bus.publish({ type: 'DeploymentCreated', id: d.id, at: d.created_at });
    return this.view(d);
  }

  async list(opts: { includeDeleted?: boolean } = {}): Promise<DeploymentView[]> {
    const all = await this.deps.store.list(opts);
    return all.map((d) => this.view(d));
  }

  async get(ref: string): Promise<DeploymentView> {
    return this.view(await this.find(ref));
  }

  async status(ref: string): Promise<DeploymentStatusView> {
    const d = await this.find(ref);
    const id = d.id;
    const stats = this.deps.reconciler.stats(id);
    const isolation = d.spec.type !== 'url' ? this.deps.runtime.isolation(launchPolicy(d.spec)) : null;
    return {
      id,
      name: d.name,
      status: d.status,
      desired: d.desired,
      status_message: d.status_message,
      ready: d.status === 'running' || d.status === 'idle',
      endpoint: endpointUrl(this.deps.publicUrl, id),
      revision: d.revision,
      serving_revision: d.serving_revision,
      generation: d.generation,
      observed_generation: d.observed_generation,
      restart_count: d.restart_count,
      tools_count: d.tools ? d.tools.length : null,
      sessions: stats.sessions,
      processes: stats.processes,
      uptime_s: uptimeSeconds(d, Date.now()),
      scale: this.deps.reconciler.scaleView(id, d),
      runtime: d.spec.type === 'url' ? null : runtimeOf(d.spec, this.deps.defaultRuntime),
      sandbox: isolation?.sandbox ?? null,
      limits: isolation?.limits ?? null,
      last_exit: this.deps.reconciler.lastExit(id),
      usage: d.spec.type === 'url' ? [] : await this.usage(id),
    };
  }

  /** The runtime's figures for the deployment; none when the runtime cannot say (an engine that stopped answering). */
  private async usage(id: string): Promise<UsageView[]> {
    const stats = await (this.deps.workloadStats?.(id) ?? Promise.resolve([])).catch(() => []);
    return stats.map((s) => ({ revision: s.revision, memory_bytes: s.memoryBytes, cpu_seconds: Math.round(s.cpuSeconds * 100) / 100, processes: s.processes }));
  }

  async logs(ref: string, tail?: number): Promise<LogEntry[]> {
    const d = await this.find(ref, { includeDeleted: true });
    return this.deps.logs.read(d.id, { tail });
  }

  /** Checks the deployment exists, then subscribes to its new log lines. */
  async followLogs(ref: string, onEntry: (e: LogEntry) => void): Promise<() => void> {
    const d = await this.find(ref, { includeDeleted: true });
    return this.deps.logs.follow(d.id, onEntry);
  }

  async stop(ref: string): Promise<DeploymentView> {
    const d = await this.find(ref);
    if (d.desired !== 'stopped') await this.deps.store.update(d.id, { desired: 'stopped', bump_generation: true });
    await this.deps.reconciler.reconcile(d.id);
    return this.get(d.id);
  }

  /** Start a stopped or failed deployment. Returns at once; status shows progress. */
  async start(ref: string): Promise<DeploymentView> {
    const d = await this.find(ref);
    if (d.desired === 'running' && d.status !== 'failed') return this.view(d);
    const updated = await this.deps.store.update(d.id, { desired: 'running', bump_generation: true });
    this.deps.reconciler.retryNow(d.id);
    await this.deps.bus.publish({ type: 'DeploymentDesiredChanged', id: d.id, desired: 'running', at: updated.updated_at });
    return this.view(updated);
  }

  /**
   * Restarts a deployment on its current revision: a failed one is retried at once (its backoff reset), a running
   * one gets fresh processes without dropping its clients (blue-green, as an update). Returns at once.
   */
  async restart(ref: string): Promise<DeploymentView> {
    const d = await this.find(ref);
    const updated = await this.deps.store.update(d.id, { desired: 'running', bump_generation: true });
    this.deps.reconciler.retryNow(d.id);
    this.deps.logs.append(d.id, 'system', `restart requested (revision ${d.revision})`);
    await this.deps.bus.publish({ type: 'DeploymentChanged', id: d.id, generation: updated.generation, revision: updated.revision, at: updated.updated_at });
    return this.view(updated);
  }

  /** Removes the deployment: its processes, work folder, secrets and (unless `keepLogs`) its logs. */
  async remove(ref: string, opts: { keepLogs?: boolean } = {}): Promise<DeploymentView> {
    const d = await this.find(ref);
    this.access.delete(d.id);
    this.deps.reconciler.forgetOnDelete(d.id, { keepLogs: opts.keepLogs === true });
    await this.deps.store.update(d.id, { desired: 'deleted', bump_generation: true });
    await this.deps.reconciler.reconcile(d.id);
    await this.deps.secrets.dropScope(d.id);
    return this.view(await this.find(d.id, { includeDeleted: true }));
  }

  /** A deployment by id, or else by its (live) name. */
  async find(ref: string, opts: { includeDeleted?: boolean } = {}): Promise<Deployment> {
    const byId = await this.deps.store.get(ref);
    if (byId && (opts.includeDeleted || byId.status !== 'deleted')) return byId;
    const byName = await this.deps.store.findByName(ref);
    if (byName) return byName;
    throw new BerthError('DEPLOYMENT_NOT_FOUND', `No deployment with id or name ${JSON.stringify(ref)}`);
  }

  view(d: Deployment): DeploymentView {
    const v = toView(d, this.deps.publicUrl);
    v.request_count += this.deps.counter.unflushed(d.id);
    return v;
  }
}
