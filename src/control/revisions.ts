import { isDeepStrictEqual } from 'node:util';
import { BerthError } from '../core/errors.js';
import { DeploymentSpecSchema, mergePatch, parseOrThrow, repinGitPatch, UpdateDeploymentSchema, type Deployment, type DeploymentView, type RevisionView } from '../core/index.js';
import { z } from 'zod';
import type { EventBus } from '../events/types.js';
import { refText } from '../secrets/refs.js';
import type { DeploymentStore, DeploymentPatch } from '../store/types.js';
import type { LogStore } from '../telemetry/logs.js';
import type { Actor, DeploymentService } from './deployments.js';
import type { SecretsService } from './secrets.js';
import { publicSpec } from './views.js';

export interface RevisionServiceDeps {
  deployments: DeploymentService;
  store: DeploymentStore;
  bus: EventBus;
  logs: LogStore;
  secrets: Pick<SecretsService, 'storeNew'>;
}

const RollbackSchema = z.strictObject({
  revision: z.number().int().min(1).optional().describe('The revision to go back to (default: the newest earlier one whose spec differs)'),
});

/** What an update did: the deployment, and the revision it made (null when only metadata changed). */
export interface UpdateResult {
  deployment: DeploymentView;
  revision: number | null;
}

/**
 * Changing a deployment: every change of what runs (spec, env_schema, secrets) makes a new immutable revision,
 * which the reconciler rolls out blue-green; the id, the name and the endpoint stay.
 */
export class RevisionService {
  constructor(private readonly deps: RevisionServiceDeps) {}

  async update(ref: string, body: unknown, actor: Actor = null): Promise<UpdateResult> {
    const input = parseOrThrow(UpdateDeploymentSchema, body, 'update');
    if (Object.values(input).every((v) => v === undefined)) {
      throw new BerthError('NOTHING_TO_UPDATE', 'The update names nothing to change: give spec, env_schema, secrets, name, description, tags or access');
    }
    const d = await this.deps.deployments.find(ref);
    const meta: DeploymentPatch = {};
    if (input.name !== undefined && input.name !== d.name) meta.name = input.name;
    if (input.description !== undefined && input.description !== d.description) meta.description = input.description;
    if (input.tags !== undefined && !isDeepStrictEqual(input.tags, d.tags)) meta.tags = input.tags;
    if (input.access !== undefined && input.access !== d.access) meta.access = input.access;

    let revision: { spec: Deployment['spec']; env_schema: Deployment['env_schema']; values: Map<string, string> } | null = null;
    if (input.spec !== undefined || input.env_schema !== undefined || input.secrets !== undefined) {
      const merged = input.spec === undefined ? d.spec : parseOrThrow(DeploymentSpecSchema, mergePatch(d.spec, repinGitPatch(input.spec)), 'spec');
      const envSchema = input.env_schema ?? d.env_schema;
      const { spec, values } = await this.deps.deployments.admitSpec(d.id, { spec: dropOwnRefs(d.id, merged, input.secrets), env_schema: envSchema, secrets: input.secrets });
      // New secret values count as a change even when the spec reads the same: the server must restart to see them.
      if (values.size > 0 || !isDeepStrictEqual(spec, d.spec) || !isDeepStrictEqual(envSchema, d.env_schema)) revision = { spec, env_schema: envSchema, values };
    }

    let current = d;
    if (Object.keys(meta).length > 0) {
      current = await this.deps.store.update(d.id, meta);
      if (meta.access !== undefined) this.deps.deployments.accessChanged(d.id);
      this.deps.logs.append(d.id, 'system', `updated ${Object.keys(meta).join(', ')}`);
    }
    if (revision === null) return { deployment: this.deps.deployments.view(current), revision: null };
    await this.deps.secrets.storeNew(d.id, revision.values);
    const made = await this.newRevision(d, { spec: revision.spec, env_schema: revision.env_schema, reason: 'update', from_revision: null, created_by: actor });
    return { deployment: this.deps.deployments.view(made), revision: made.revision };
  }

  /** A new revision with the same spec: fresh processes, secret references resolved again. */
  async redeploy(ref: string, actor: Actor = null): Promise<UpdateResult> {
    const d = await this.deps.deployments.find(ref);
    const made = await this.newRevision(d, { spec: d.spec, env_schema: d.env_schema, reason: 'redeploy', from_revision: d.revision, created_by: actor });
    return { deployment: this.deps.deployments.view(made), revision: made.revision };
  }

  /** A new revision that copies an earlier one (by default the newest earlier one whose spec differs). */
  async rollback(ref: string, body: unknown, actor: Actor = null): Promise<UpdateResult> {
    const input = parseOrThrow(RollbackSchema, body ?? {}, 'rollback');
    const d = await this.deps.deployments.find(ref);
    const all = await this.deps.store.listRevisions(d.id);
    const target =
      input.revision !== undefined
        ? all.find((r) => r.number === input.revision)
        : all.find((r) => r.number < d.revision && (!isDeepStrictEqual(r.spec, d.spec) || !isDeepStrictEqual(r.env_schema, d.env_schema)));
    if (!target) {
      const why = input.revision !== undefined ? `has no revision ${input.revision} (it has ${all.map((r) => r.number).join(', ')})` : 'has no earlier revision that differs from the current one';
      throw new BerthError('REVISION_NOT_FOUND', `Deployment ${d.name} ${why}; see: berth history ${d.name}`, { revisions: all.map((r) => r.number) });
    }
    const made = await this.newRevision(d, { spec: target.spec, env_schema: target.env_schema, reason: 'rollback', from_revision: target.number, created_by: actor });
    return { deployment: this.deps.deployments.view(made), revision: made.revision };
  }

  async history(ref: string): Promise<RevisionView[]> {
    const d = await this.deps.deployments.find(ref, { includeDeleted: true });
    const all = await this.deps.store.listRevisions(d.id);
    return all.map((r) => ({ ...r, spec: publicSpec(r.spec, r.env_schema), current: r.number === d.revision, serving: r.number === d.serving_revision }));
  }

  private async newRevision(d: Deployment, r: Parameters<DeploymentStore['addRevision']>[1]): Promise<Deployment> {
    const { deployment, revision } = await this.deps.store.addRevision(d.id, r);
    const from = r.reason === 'rollback' ? ` (copy of revision ${r.from_revision})` : '';
    this.deps.logs.append(d.id, 'system', `revision ${revision.number}: ${r.reason}${from}`);
    await this.deps.bus.publish({ type: 'DeploymentChanged', id: d.id, generation: deployment.generation, revision: revision.number, at: deployment.updated_at });
    return deployment;
  }
}

/**
 * A PATCH that sets `secrets.KEY` for a key whose env already references this deployment's own KEY
 * replaces the value behind that reference: drop the reference so it is made again from the new value.
 */
function dropOwnRefs(id: string, spec: Deployment['spec'], secrets: Record<string, string> | undefined): Deployment['spec'] {
  if (!secrets || spec.type !== 'process') return spec;
  const env = { ...spec.env };
  for (const name of Object.keys(secrets)) if (env[name] === refText(id, name)) delete env[name];
  return { ...spec, env };
}
