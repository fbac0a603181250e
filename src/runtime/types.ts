import type { Readable, Writable } from 'node:stream';
import type { IsolationView, MountMode, NetworkPolicy, ServerLimits } from '../core/isolation.js';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it ended when the runtime knows more than the code says, e.g. `out of memory: killed at the 512 MiB limit`. */
  reason?: string;
}

/** Resource limits of one server process (and everything it starts), defined in core beside their defaults. */
export type { ServerLimits };

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

/** A running stdio server process, as the MCP bridge sees it. */
export interface StdioProcess {
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Resolves once when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<ExitInfo>;
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
  /**
   * Folders Berth itself shows the server read-only, at the same path (a package cache entry, the
   * interpreter it needs); never from a spec. The runtime allows them inside its internal folders,
   * or anywhere that touches none of Berth's protected paths.
   */
  internalMounts?: string[];
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
