import type { Deployment, DeploymentSpec, DeploymentStatus, DesiredState, EnvVar, Revision, RevisionReason, ToolSummary } from '../core/index.js';
import type { DeploymentsTable, RevisionsTable } from './schema.js';
import type { DeploymentPatch, NewDeployment, NewRevision } from './types.js';

/** The one place where deployments become rows and back (JSON columns, bigint counters). */
export function toRow(d: Deployment): DeploymentsTable {
  return {
    ...d,
    tags: JSON.stringify(d.tags),
    env_schema: JSON.stringify(d.env_schema),
    spec: JSON.stringify(d.spec),
    tools: d.tools === null ? null : JSON.stringify(d.tools),
  };
}

export function fromRow(row: DeploymentsTable): Deployment {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    tags: JSON.parse(row.tags) as string[],
    env_schema: JSON.parse(row.env_schema) as EnvVar[],
    spec: JSON.parse(row.spec) as DeploymentSpec,
    desired: row.desired as DesiredState,
    status: row.status as DeploymentStatus,
    status_message: row.status_message,
    request_count: Number(row.request_count),
    last_request_at: row.last_request_at,
    tools: row.tools === null ? null : (JSON.parse(row.tools) as ToolSummary[]),
    restart_count: Number(row.restart_count),
    created_at: row.created_at,
    updated_at: row.updated_at,
    started_at: row.started_at,
    stopped_at: row.stopped_at,
    deleted_at: row.deleted_at,
    access: row.access === 'public' ? 'public' : 'private',
    revision: Number(row.revision),
    serving_revision: row.serving_revision === null ? null : Number(row.serving_revision),
    generation: Number(row.generation),
    observed_generation: Number(row.observed_generation),
  };
}

export function revisionToRow(r: Revision): RevisionsTable {
  return {
    ...r,
    spec: JSON.stringify(r.spec),
    env_schema: JSON.stringify(r.env_schema),
    snapshot: r.snapshot === null ? null : JSON.stringify(r.snapshot),
  };
}

export function revisionFromRow(row: RevisionsTable): Revision {
  return {
    deployment_id: row.deployment_id,
    number: Number(row.number),
    spec: JSON.parse(row.spec) as DeploymentSpec,
    env_schema: JSON.parse(row.env_schema) as EnvVar[],
    reason: row.reason as RevisionReason,
    from_revision: row.from_revision === null ? null : Number(row.from_revision),
    created_by: row.created_by,
    created_at: row.created_at,
    source_digest: row.source_digest,
    image: row.image,
    snapshot: row.snapshot === null ? null : (JSON.parse(row.snapshot) as Record<string, unknown>),
  };
}

/** A revision as it is first stored. */
export function newRevision(deploymentId: string, number: number, r: NewRevision, now: string): Revision {
  return {
    deployment_id: deploymentId,
    number,
    spec: r.spec,
    env_schema: r.env_schema,
    reason: r.reason,
    from_revision: r.from_revision,
    created_by: r.created_by,
    created_at: now,
    // A source spec's stored tree (pinned at deploy time), so history shows what each revision ran.
    source_digest: r.source_digest ?? (r.spec.type === 'source' ? (r.spec.source.digest ?? null) : null),
    image: r.image ?? null,
    snapshot: null,
  };
}

/** The columns a patch sets; keys whose value is undefined are left alone. */
export function patchToRow(patch: DeploymentPatch): Partial<DeploymentsTable> {
  const out: Partial<DeploymentsTable> = {};
  if (patch.name !== undefined) out.name = patch.name;
  if (patch.description !== undefined) out.description = patch.description;
  if (patch.tags !== undefined) out.tags = JSON.stringify(patch.tags);
  if (patch.access !== undefined) out.access = patch.access;
  if (patch.serving_revision !== undefined) out.serving_revision = patch.serving_revision;
  if (patch.observed_generation !== undefined) out.observed_generation = patch.observed_generation;
  if (patch.desired !== undefined) out.desired = patch.desired;
  if (patch.status !== undefined) out.status = patch.status;
  if (patch.status_message !== undefined) out.status_message = patch.status_message;
  if (patch.tools !== undefined) out.tools = patch.tools === null ? null : JSON.stringify(patch.tools);
  if (patch.restart_count !== undefined) out.restart_count = patch.restart_count;
  if (patch.started_at !== undefined) out.started_at = patch.started_at;
  if (patch.stopped_at !== undefined) out.stopped_at = patch.stopped_at;
  if (patch.deleted_at !== undefined) out.deleted_at = patch.deleted_at;
  return out;
}

const PATCH_KEYS = [
  'name',
  'description',
  'tags',
  'access',
  'serving_revision',
  'observed_generation',
  'desired',
  'status',
  'status_message',
  'tools',
  'restart_count',
  'started_at',
  'stopped_at',
  'deleted_at',
] as const satisfies readonly (keyof DeploymentPatch)[];

/** The same patch applied to an in-memory deployment (used by the memory store). */
export function applyPatch(d: Deployment, patch: DeploymentPatch, updatedAt: string): Deployment {
  const next: Deployment = { ...d, updated_at: updatedAt };
  for (const key of PATCH_KEYS) {
    if (patch[key] !== undefined) Object.assign(next, { [key]: patch[key] });
  }
  if (patch.bump_generation) next.generation += 1;
  if (patch.add_restarts !== undefined) next.restart_count += patch.add_restarts;
  return next;
}

/** A new deployment with every server-owned field at its initial value (only known fields are copied). */
export function initialDeployment(d: NewDeployment, now: string): Deployment {
  // created_by belongs to the revision, not the deployment row.
  return {
    id: d.id,
    name: d.name,
    access: d.access,
    description: d.description,
    tags: d.tags,
    env_schema: d.env_schema,
    spec: d.spec,
    desired: d.desired,
    status: d.status,
    status_message: d.status_message,
    request_count: 0,
    last_request_at: null,
    tools: null,
    restart_count: 0,
    revision: 1,
    serving_revision: null,
    generation: 1,
    observed_generation: 0,
    created_at: now,
    updated_at: now,
    started_at: null,
    stopped_at: null,
    deleted_at: null,
  };
}
