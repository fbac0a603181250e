import type { DeploymentStatus, DesiredState } from './deployment.js';
import type { LimitsView, SandboxView } from './isolation.js';

// Views of a deployment's state that the control layer builds and the API returns.

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
  /** Process deployments: the sandbox that applies (null for url deployments). */
  sandbox: SandboxView | null;
  /** Process deployments: memory/pids/CPU limits per server process and what enforces them. */
  limits: LimitsView | null;
  /** The last time a server process of this deployment ended without being asked to (since Berth started). */
  last_exit: LastExitView | null;
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
