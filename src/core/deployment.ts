import type { DeploymentSpec, EnvVar } from './spec.js';
import { BerthError } from './errors.js';

/** Lifecycle of a deployment (seed 004). `idle` = scaled to zero, wakes on request. */
export const DEPLOYMENT_STATUSES = [
  'pending',
  'building',
  'pushing',
  'deploying',
  'running',
  'idle',
  'stopped',
  'failed',
  'deleted',
] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

/** What the user asked for; the reconciler converges the runtime to it. */
export type DesiredState = 'running' | 'stopped' | 'deleted';

export interface ToolSummary {
  name: string;
  title?: string;
  description?: string;
}

/** Who may talk MCP to a deployment: tokens with its invoke scope (`private`), or anyone (`public`). */
export type DeploymentAccess = 'private' | 'public';

export interface Deployment {
  id: string;
  name: string;
  access: DeploymentAccess;
  description: string | null;
  tags: string[];
  env_schema: EnvVar[];
  spec: DeploymentSpec;
  desired: DesiredState;
  status: DeploymentStatus;
  status_message: string | null;
  request_count: number;
  last_request_at: string | null;
  /** Cached result of the last successful tools/list. */
  tools: ToolSummary[] | null;
  restart_count: number;
  /** The revision the user wants running (every create, update, redeploy and rollback makes one). */
  revision: number;
  /** The revision that answers clients now; null while nothing has served yet. Differs from `revision` during an update, or after one failed. */
  serving_revision: number | null;
  /** Bumped by every change of what the user wants (a new revision, start, stop, restart, rm). */
  generation: number;
  /** The generation the controller last finished acting on. */
  observed_generation: number;
  created_at: string;
  updated_at: string;
  /** When the current run became healthy (for uptime); null when not running. */
  started_at: string | null;
  stopped_at: string | null;
  deleted_at: string | null;
}

/** Why a revision was made. */
export type RevisionReason = 'create' | 'update' | 'redeploy' | 'rollback';

/**
 * One immutable version of what a deployment runs: its spec (with secret references, never values) and
 * env_schema; later also the source digest and image. Only `snapshot` changes: what the revision's server
 * last reported (initialize result and list results), so listing can be answered while it is scaled to zero.
 */
export interface Revision {
  deployment_id: string;
  number: number;
  spec: DeploymentSpec;
  env_schema: EnvVar[];
  reason: RevisionReason;
  /** For a rollback: the revision it copies. */
  from_revision: number | null;
  /** The token id that made it (`env`, `bootstrap`), or null when unknown. */
  created_by: string | null;
  created_at: string;
  source_digest: string | null;
  image: string | null;
  /** JSON the data plane understands (src/mcp ServerSnapshot); null until the server first answered. */
  snapshot: Record<string, unknown> | null;
}

/** One revision as the API shows it (secret references as they are, never values). */
export interface RevisionView extends Revision {
  /** The revision the user wants running. */
  current: boolean;
  /** The revision answering clients now. */
  serving: boolean;
}

const TRANSITIONS: Record<DeploymentStatus, readonly DeploymentStatus[]> = {
  pending: ['pending', 'building', 'deploying', 'stopped', 'failed', 'deleted'],
  building: ['pushing', 'deploying', 'failed', 'stopped', 'deleted'],
  pushing: ['deploying', 'failed', 'stopped', 'deleted'],
  deploying: ['running', 'idle', 'failed', 'stopped', 'deleted', 'deploying'],
  running: ['deploying', 'idle', 'stopped', 'failed', 'deleted', 'running'],
  idle: ['deploying', 'running', 'idle', 'stopped', 'failed', 'deleted'],
  stopped: ['deploying', 'pending', 'deleted', 'stopped', 'failed'],
  failed: ['deploying', 'pending', 'stopped', 'deleted', 'failed'],
  deleted: [],
};

export function canTransition(from: DeploymentStatus, to: DeploymentStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function assertTransition(id: string, from: DeploymentStatus, to: DeploymentStatus): void {
  if (!canTransition(from, to)) {
    throw new BerthError('INVALID_STATE', `Deployment ${id} cannot go from ${from} to ${to}`, { from, to });
  }
}

/** The public JSON form of a deployment: never includes secret values. */
export interface DeploymentView extends Deployment {
  endpoint: string;
  uptime_s: number | null;
}
