/**
 * The REST control API's shapes, shared by the server routes and the CLI's API client.
 * Errors are always `{ error: { code, message, details? } }` with the status of the code's catalogue entry.
 */
import type { DeploymentView, ErrorCode, GroupDetails, RevisionView } from '../core/index.js';
import type { LogEntry, LogStream } from '../telemetry/logs.js';
import type { CatalogEntry } from '../sources/catalog/index.js';

// Shapes that the control layer builds are defined below the API (core, control) and named here, so the
// CLI's client finds every shape of the API in this one file.
export type { DeploymentStatusView, LastExitView, ScaleView } from '../core/views.js';
export type { RotateResult, SecretList } from '../control/views.js';
export type { CreatedToken, TokenView } from '../control/tokens.js';
export type { SourceUpload } from '../control/sources.js';
export type { SecretInfo } from '../secrets/types.js';
export type { AuditEntry } from '../store/types.js';
export type { CatalogEntry, ServerJson } from '../sources/catalog/index.js';
export type { CatalogDeployInput } from '../control/catalog.js';
export type { LogEntry, LogStream };
export type { GroupDetails };

export const API_PREFIX = '/api';

export interface ApiError {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** GET /api/deployments */
export interface DeploymentList {
  items: DeploymentView[];
}

/** GET /api/catalog[?q=]: built-in templates first, then the operator's. */
export interface CatalogList {
  items: CatalogEntry[];
}

/** GET /api/groups: by name. */
export interface GroupList {
  items: GroupDetails[];
}

/** GET /api/groups/:name */
export type GroupWithTroubles = GroupDetails & { troubles: Record<string, string> };

/** GET /api/deployments/:id/revisions: newest first. */
export interface RevisionList {
  items: RevisionView[];
}

/** GET /api/deployments/:id/logs?tail=N (without follow) */
export interface LogList {
  items: LogEntry[];
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
