import type { DeploymentStatus, DesiredState } from './deployment.js';
import type { LimitsView, SandboxView } from './isolation.js';

// Views of a deployment's state that the control layer builds and the API returns.

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
  /** Where it runs: `process` or `container` (null for url deployments). */
  runtime: 'process' | 'container' | null;
  /** Process deployments: the sandbox that applies (null for url deployments). */
  sandbox: SandboxView | null;
  /** Process deployments: memory/pids/CPU limits per server process and what enforces them. */
  limits: LimitsView | null;
  /** The last time a server process of this deployment ended without being asked to (since Berth started). */
  last_exit: LastExitView | null;
  /** What each running revision uses now (two during a rollout; none when idle, stopped or a url deployment). */
  usage: UsageView[];
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

/**
 * One running revision's resource use, read when status is asked for: the process trees' resident memory and CPU
 * time from /proc (process runtime), the container's cgroup figures from its engine (container runtime).
 */
export interface UsageView {
  revision: number;
  memory_bytes: number;
  cpu_seconds: number;
  processes: number;
}
