import type { IsolationView, MountMode, NetworkPolicy, ServerLimits } from '../core/isolation.js';
import type { ExitInfo, StdioProcess } from '../core/process.js';

/** The process seam the MCP bridge and the runtime share lives in core (both are drivers: neither imports the other). */
export type { ExitInfo, StdioProcess };

/** Resource limits of one server process (and everything it starts), defined in core beside their defaults. */
export type { ServerLimits };

/** Where a runtime writes its servers' output and its own lines about them (the log store, narrowed). */
export interface RuntimeLog {
  append(deploymentId: string, stream: 'stderr' | 'stdout' | 'system', line: string): void;
}

export interface MountRequest {
  /** Absolute host path, seen at the same path inside the sandbox. */
  path: string;
  mode: MountMode;
}

/** The isolation a launch asks for: checked at deploy time (`Runtime.admit`) and again at launch. */
export interface LaunchPolicy {
  /** Working directory; the runtime creates a per-deployment one when absent. */
  cwd?: string;
  /** Default `egress`. */
  network?: NetworkPolicy;
  mounts?: MountRequest[];
  /** Absent fields take the runtime's defaults. */
  limits?: Partial<ServerLimits>;
}

export interface LaunchRequest extends LaunchPolicy {
  /** Owning deployment; used for pid files and log lines. */
  deploymentId: string;
  /** Distinguishes several processes of one deployment (isolated mode), e.g. `main` or `s-3`. */
  instanceKey: string;
  command: string;
  args: string[];
  /** Complete environment for the child (the runtime adds nothing secret on its own). */
  env: Record<string, string>;
}

/** Starts stdio server processes. The process runtime is the first driver; containers come later. */
export interface StdioLauncher {
  launch(req: LaunchRequest): Promise<StdioProcess>;
}

/** Control-plane view of a runtime driver. */
export interface Runtime extends StdioLauncher {
  readonly name: string;
  /**
   * Checks a policy before anything is stored (deploy time): mounts inside the allowed roots, the
   * network policy allowed and possible, limits within the maximums. Throws a BerthError
   * (MOUNT_NOT_ALLOWED, HOST_NETWORK_NOT_ALLOWED, NETWORK_UNAVAILABLE, LIMIT_TOO_HIGH).
   */
  admit(policy: LaunchPolicy): void;
  /** What isolation a launch with this policy gets here (for status). */
  isolation(policy: LaunchPolicy): IsolationView;
  /** Things an operator should know at start-up (no sandbox, limits not enforced, …). */
  notices(): string[];
  /**
   * Called once at start-up before anything is launched: finds processes a previous Berth left
   * behind (pid files) and ends them, so the reconciler can start exactly one copy of each.
   * Returns what it ended.
   */
  reapOrphans(): Promise<{ deploymentId: string; instanceKey: string; pid: number }[]>;
  /** Stops every process this runtime started (Berth shutdown); launches after it are refused. */
  stopAll(graceMs?: number): Promise<void>;
}
