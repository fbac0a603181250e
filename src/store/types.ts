import type { Deployment, DeploymentStatus, DesiredState, ToolSummary } from '../core/index.js';

export type NewDeployment = Omit<
  Deployment,
  'request_count' | 'last_request_at' | 'tools' | 'restart_count' | 'created_at' | 'updated_at' | 'started_at' | 'stopped_at' | 'deleted_at'
>;

export interface DeploymentPatch {
  desired?: DesiredState;
  status?: DeploymentStatus;
  status_message?: string | null;
  tools?: ToolSummary[] | null;
  restart_count?: number;
  started_at?: string | null;
  stopped_at?: string | null;
  deleted_at?: string | null;
}

/** Persistence of deployments. SQLite and PostgreSQL implement it through one query layer. */
export interface DeploymentStore {
  create(d: NewDeployment): Promise<Deployment>;
  /** Returns undefined for unknown ids (deleted ones are returned with status `deleted`). */
  get(id: string): Promise<Deployment | undefined>;
  /** Newest first; deleted deployments only when asked. */
  list(opts?: { includeDeleted?: boolean }): Promise<Deployment[]>;
  /** Applies the patch, bumps updated_at, returns the new row; throws DEPLOYMENT_NOT_FOUND. */
  update(id: string, patch: DeploymentPatch): Promise<Deployment>;
  /** Adds `count` to request_count and sets last_request_at (batched by the gateway). */
  addRequests(id: string, count: number, lastAt: string): Promise<void>;
  close(): Promise<void>;
}
