import type { DeploymentStatusView } from '../core/views.js';
import { BerthError } from '../core/errors.js';
import { CreateDeploymentSchema, newDeploymentId, parseOrThrow, type Deployment, type DeploymentAccess, type DeploymentView } from '../core/index.js';
import type { EventBus } from '../events/types.js';
import type { Runtime } from '../runtime/types.js';
import type { DeploymentStore } from '../store/types.js';
import type { LogEntry, LogStore } from '../telemetry/logs.js';
import { checkEnvAgainstSchema } from './env.js';
import { launchPolicy } from './launch-policy.js';
import type { Reconciler } from './reconciler.js';
import type { RequestCounter } from './request-counter.js';
import { withSecretRefs, type SecretsService } from './secrets.js';
import { endpointUrl, toView, uptimeSeconds } from './views.js';

export interface DeploymentServiceDeps {
  store: DeploymentStore;
  logs: LogStore;
  bus: EventBus;
  reconciler: Pick<Reconciler, 'reconcile' | 'stats' | 'lastExit'>;
  /** Deploy-time checks of a process spec's sandbox policy, and what status reports of it. */
  runtime: Pick<Runtime, 'admit' | 'isolation'>;
  counter: Pick<RequestCounter, 'unflushed'>;
  secrets: Pick<SecretsService, 'checkRefs' | 'storeNew' | 'dropScope'>;
  publicUrl: string;
  /** Refuses (REMOTE_ADDRESS_FORBIDDEN) a url deployment's endpoint whose literal address Berth may not connect to. */
  checkRemote: (endpoint: string) => void;
}

/** The deployment use-cases behind the API and CLI. Writes desired state; the reconciler does the rest. */
export class DeploymentService {
  /** Access of deployments seen so far: it is fixed at creation, so it never goes stale (deletion removes it). */
  private readonly access = new Map<string, DeploymentAccess>();

  constructor(private readonly deps: DeploymentServiceDeps) {}

  /** A deployment's access (`private` or `public`), or undefined when there is no such deployment. Cached. */
  async accessOf(id: string): Promise<DeploymentAccess | undefined> {
    const known = this.access.get(id);
    if (known !== undefined) return known;
    const d = await this.deps.store.get(id);
    if (!d || d.status === 'deleted' || d.desired === 'deleted') return undefined;
    this.access.set(id, d.access);
    return d.access;
  }

  async create(body: unknown): Promise<DeploymentView> {
    const input = parseOrThrow(CreateDeploymentSchema, body, 'deployment');
    const id = newDeploymentId(input.name);
    // Secret values leave the spec here: it keeps references, the values go to the secret store.
    const { spec, values } = withSecretRefs(id, input.spec, input.secrets);
    checkEnvAgainstSchema(spec, input.env_schema);
    if (spec.type === 'url') this.deps.checkRemote(spec.endpoint);
    if (spec.type === 'process') this.deps.runtime.admit(launchPolicy(spec));
    await this.deps.secrets.checkRefs(id, spec, input.env_schema, values);
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
      });
    } catch (err) {
      await this.deps.secrets.dropScope(id).catch(() => undefined);
      throw err;
    }
    this.deps.logs.append(d.id, 'system', `created ${d.name} (${d.spec.type})`);
    await this.deps.bus.publish({ type: 'DeploymentCreated', id: d.id, at: d.created_at });
    return this.view(d);
  }

  async list(opts: { includeDeleted?: boolean } = {}): Promise<DeploymentView[]> {
    const all = await this.deps.store.list(opts);
    return all.map((d) => this.view(d));
  }

  async get(id: string): Promise<DeploymentView> {
    return this.view(await this.find(id));
  }

  async status(id: string): Promise<DeploymentStatusView> {
    const d = await this.find(id);
    const stats = this.deps.reconciler.stats(id);
    const isolation = d.spec.type === 'process' ? this.deps.runtime.isolation(launchPolicy(d.spec)) : null;
    return {
      id: d.id,
      status: d.status,
      desired: d.desired,
      status_message: d.status_message,
      ready: d.status === 'running',
      endpoint: endpointUrl(this.deps.publicUrl, d.id),
      restart_count: d.restart_count,
      tools_count: d.tools ? d.tools.length : null,
      sessions: stats.sessions,
      processes: stats.processes,
      uptime_s: uptimeSeconds(d, Date.now()),
      sandbox: isolation?.sandbox ?? null,
      limits: isolation?.limits ?? null,
      last_exit: this.deps.reconciler.lastExit(id),
    };
  }

  async logs(id: string, tail?: number): Promise<LogEntry[]> {
    await this.find(id, { includeDeleted: true });
    return this.deps.logs.read(id, { tail });
  }

  /** Checks the deployment exists, then subscribes to its new log lines. */
  async followLogs(id: string, onEntry: (e: LogEntry) => void): Promise<() => void> {
    await this.find(id, { includeDeleted: true });
    return this.deps.logs.follow(id, onEntry);
  }

  async stop(id: string): Promise<DeploymentView> {
    await this.find(id);
    await this.deps.store.update(id, { desired: 'stopped' });
    await this.deps.reconciler.reconcile(id);
    return this.get(id);
  }

  /** Start a stopped or failed deployment (or restart a running one that is stuck). Returns at once; status shows progress. */
  async start(id: string): Promise<DeploymentView> {
    const d = await this.find(id);
    if (d.status === 'running' && d.desired === 'running') return this.view(d);
    const updated = await this.deps.store.update(id, { desired: 'running', status: 'pending', status_message: 'start requested' });
    await this.deps.bus.publish({ type: 'DeploymentDesiredChanged', id, desired: 'running', at: updated.updated_at });
    return this.view(updated);
  }

  async remove(id: string): Promise<DeploymentView> {
    await this.find(id);
    this.access.delete(id);
    await this.deps.store.update(id, { desired: 'deleted' });
    await this.deps.reconciler.reconcile(id);
    await this.deps.secrets.dropScope(id);
    return this.view(await this.find(id, { includeDeleted: true }));
  }

  private async find(id: string, opts: { includeDeleted?: boolean } = {}): Promise<Deployment> {
    const d = await this.deps.store.get(id);
    if (!d || (!opts.includeDeleted && d.status === 'deleted')) throw new BerthError('DEPLOYMENT_NOT_FOUND', `No deployment with id ${id}`);
    return d;
  }

  private view(d: Deployment): DeploymentView {
    const v = toView(d, this.deps.publicUrl);
    v.request_count += this.deps.counter.unflushed(d.id);
    return v;
  }
}
