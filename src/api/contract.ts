/**
 * The REST control API's shapes, shared by the server routes and the CLI's API client.
 * Errors are always `{ error: { code, message, details? } }` with the status of the code's catalogue entry.
 */
import type { DeploymentStatus, DeploymentView, DesiredState, ErrorCode } from '../core/index.js';
import type { SecretInfo } from '../secrets/types.js';
import type { LogEntry } from '../telemetry/logs.js';

export type { SecretInfo };

export const API_PREFIX = '/api';

export interface ApiError {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** GET /api/deployments */
export interface DeploymentList {
  items: DeploymentView[];
}

/** GET /api/deployments/:id/status */
export interface DeploymentStatusView {
  id: string;
  status: DeploymentStatus;
  desired: DesiredState;
  status_message: string | null;
  /** True when clients can use the endpoint now. */
  ready: boolean;
  endpoint: string;
  restart_count: number;
  tools_count: number | null;
  sessions: number;
  processes: number;
  uptime_s: number | null;
}

/** GET /api/deployments/:id/logs?tail=N (without follow) */
export interface LogList {
  items: LogEntry[];
}

/** GET /api/deployments/:id/secrets and GET /api/secrets/global: names, never values. */
export interface SecretList {
  items: SecretInfo[];
}

/** POST /api/secrets/rotate-key */
export interface RotateResult {
  /** Id (fingerprint) of the new master key. */
  key_id: string;
  reencrypted: number;
}

/** GET /healthz */
export interface Health {
  status: 'ok';
  version: string;
  uptime_s: number;
}

/** GET /api/whoami: the token the request was made with. */
export interface WhoAmI {
  id: string;
  name: string;
  scopes: string[];
}
