/**
 * The REST control API's shapes, shared by the server routes and the CLI's API client.
 * Errors are always `{ error: { code, message, details? } }` with the status of the code's catalogue entry.
 */
import type { DeploymentStatus, DeploymentView, DesiredState, ErrorCode, LimitsView, RevisionView, SandboxView } from '../core/index.js';
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

/** GET /api/deployments/:id/revisions: newest first. */
export interface RevisionList {
  items: RevisionView[];
}

/** GET /api/deployments/:id/status */
export interface DeploymentStatusView {
  id: string;
  name: string;
  status: DeploymentStatus;
  desired: DesiredState;
  status_message: string | null;
  /** True when clients can use the endpoint now. */
  ready: boolean;
  endpoint: string;
  /** The revision the user wants running. */
  revision: number;
  /** The revision answering clients now (differs from `revision` while an update rolls out, or after one failed). */
  serving_revision: number | null;
  generation: number;
  /** Equal to `generation` once the controller has acted on the latest change. */
  observed_generation: number;
  restart_count: number;
  tools_count: number | null;
  sessions: number;
  processes: number;
  uptime_s: number | null;
  /** Scale to zero (spec.scale.min 0); null when the deployment always runs. */
  scale: ScaleView | null;
  /** Process deployments: the sandbox that applies (null for url deployments). */
  sandbox: SandboxView | null;
  /** Process deployments: memory/pids/CPU limits per server process and what enforces them. */
  limits: LimitsView | null;
  /** The last time a server process of this deployment ended without being asked to (since Berth started). */
  last_exit: LastExitView | null;
}

export interface ScaleView {
  min: 0 | 1;
  idle_s: number;
  /** When the last request arrived (this Berth's view, or the store's), or null. */
  last_request_at: string | null;
  /** Seconds since then. */
  idle_for_s: number | null;
  /** When the server stops if nothing comes; null while it is stopped or busy. */
  next_idle_stop_at: string | null;
}

export interface LastExitView {
  at: string;
  pid: number;
  instance_key: string;
  /** `code N` or `signal NAME`. */
  exit: string;
  /** What the runtime knows beyond the code, e.g. `out of memory: killed at the 512 MiB limit`. */
  reason: string | null;
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
  /** `leader`: holds the store's reconciler lease and runs the servers; `standby`: serves the API, refuses MCP traffic (STANDBY), takes over when the leader stops. */
  role: 'leader' | 'standby';
}

/** GET /api/whoami: the token the request was made with. */
export interface WhoAmI {
  id: string;
  name: string;
  scopes: string[];
}
