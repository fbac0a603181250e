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
  created_at: string;
  updated_at: string;
  /** When the current run became healthy (for uptime); null when not running. */
  started_at: string | null;
  stopped_at: string | null;
  deleted_at: string | null;
}

const TRANSITIONS: Record<DeploymentStatus, readonly DeploymentStatus[]> = {
  pending: ['building', 'deploying', 'stopped', 'failed', 'deleted'],
  building: ['pushing', 'deploying', 'failed', 'stopped', 'deleted'],
  pushing: ['deploying', 'failed', 'stopped', 'deleted'],
  deploying: ['running', 'failed', 'stopped', 'deleted', 'deploying'],
  running: ['deploying', 'idle', 'stopped', 'failed', 'deleted', 'running'],
  idle: ['deploying', 'running', 'stopped', 'failed', 'deleted'],
  stopped: ['deploying', 'pending', 'deleted', 'stopped'],
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
