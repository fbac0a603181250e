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
  /** The runtime it runs on (spec.runtime; an image spec: container); absent: the operator's default. A router picks the driver by it. */
  runtime?: 'process' | 'container';
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
  /** Owner labels, kept in the pid file so a later Berth can list what it finds by them. */
  labels?: Record<string, string>;
  /**
   * Folders Berth itself shows the server read-only, at the same path (a package cache entry, the
   * interpreter it needs); never from a spec. The runtime allows them inside its internal folders,
   * or anywhere that touches none of Berth's protected paths.
   */
  internalMounts?: string[];
  /**
   * A folder Berth prepared for this launch (a source revision's workspace, under the data dir): bound read-only
   * and used as the working directory. Like internalMounts, only Berth sets it, never a spec; it must lie inside
   * the runtime's internal folders. A spec's `cwd`, when given too, wins.
   */
  workspace?: string;
  /**
   * How `workspace` is shown: `ro` (default, the server) or `rw` (the install/build step Berth runs in the sandbox to
   * make the workspace ready). Berth-only like `workspace`; no spec can set it.
   */
  workspaceMode?: 'ro' | 'rw';
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

// ---------------------------------------------------------------------------------------------
// Workloads (ADR 0017): what the controller asks a runtime driver for. A workload is one revision of a
// deployment as the runtime sees it; the driver makes it exist (`ensure`), reports what exists
// (`observe`, `list` by owner labels), removes it with its work folder and logs, and says how the data
// plane reaches it (`address`).
// ---------------------------------------------------------------------------------------------

/** The owner labels every workload carries (and drivers store with what they start: pid files, container labels). */
export const LABEL_DEPLOYMENT = 'berth.deployment';
export const LABEL_REVISION = 'berth.revision';

/** The owner labels of revision `revision` of deployment `deploymentId`. */
export function ownerLabels(deploymentId: string, revision: number): Record<string, string> {
  return { [LABEL_DEPLOYMENT]: deploymentId, [LABEL_REVISION]: String(revision) };
}

/**
 * An image a container-capable runtime runs (ignored by drivers that run commands):
 * - `http`: the container serves MCP itself on `port` at `path` (an image Berth built, whose entry point is
 *   `berth bridge`, or an HTTP MCP server image);
 * - `stdio`: the image's command (or `command`/`args` of the launch) is a stdio server the driver runs behind the bridge.
 */
export interface WorkloadImage {
  ref: string;
  serves: 'http' | 'stdio';
  port: number;
  path: string;
}

/** What to run: the server command and its complete environment, with the isolation it asks for. */
export interface WorkloadLaunch extends LaunchPolicy {
  command: string;
  args: string[];
  /** Complete environment (secret references already resolved). */
  env: Record<string, string>;
  /** Folders Berth shows read-only (a package cache entry): see LaunchRequest.internalMounts. */
  internalMounts?: string[];
  /** A source revision's workspace Berth prepared: see LaunchRequest.workspace. */
  workspace?: string;
  /** Set for a container: the image, and how it serves (then `command`/`args` override its command when non-empty). */
  image?: WorkloadImage;
}

export interface Workload {
  deploymentId: string;
  /** The revision this workload runs (1, 2, …). */
  revision: number;
  /** Owner labels: at least `berth.deployment` and `berth.revision` (see ownerLabels). */
  labels: Record<string, string>;
  launch: WorkloadLaunch;
  /** The runtime it asks for (spec.runtime, else the operator's default); a router sends it to that driver. */
  runtime?: 'process' | 'container';
  /**
   * How the bridge multiplexes clients, for drivers where the bridge runs inside the workload (default shared).
   * Where the bridge runs in Berth (address kind `stdio`), Berth's own bridge decides and this is ignored.
   */
  bridge?: { mode: 'shared' } | { mode: 'isolated'; warm: number; max: number };
}

/** Starts one stdio server process of a workload (the process driver: Berth's bridge calls it). */
export type SpawnWorkloadProcess = (instanceKey: string) => Promise<StdioProcess>;

/**
 * How the data plane reaches a workload.
 * - `stdio`: the bridge runs in Berth and starts the workload's processes itself through `spawn`.
 * - `http`: the bridge runs inside the workload (`berth bridge`); Berth proxies MCP to `url` (its `/mcp`),
 *   sending `headers` (the bridge's bearer token) with every request.
 */
/**
 * How the data plane reaches a workload. `http.bridged`: the server inside runs behind Berth's bridge program
 * (`berth bridge`), so Berth's own bridge can hold the clients' sessions and reach it over one channel (sessions
 * then survive a switch to the next revision); without it the server speaks HTTP itself and is proxied as it is.
 */
export type WorkloadAddress = { kind: 'stdio'; spawn: SpawnWorkloadProcess } | { kind: 'http'; url: string; headers: Record<string, string>; bridged?: boolean };

/**
 * - `created`: it exists but runs nothing yet (stdio: no process until the bridge spawns one);
 * - `running`: its processes run (http: the bridge answers /health);
 * - `starting`: started, not answering yet;
 * - `exited`: it ended on its own (a crash, or a server that cannot start); `lastExit` says how.
 */
export type WorkloadPhase = 'created' | 'starting' | 'running' | 'exited';

export interface WorkloadState {
  deploymentId: string;
  revision: number;
  labels: Record<string, string>;
  phase: WorkloadPhase;
  /** Pids of its processes that are alive now. */
  pids: number[];
  /** How its last process ended on its own (not stopped by Berth), if one did. */
  lastExit: ExitInfo | null;
  /** Null when it cannot be reached: stopped or removed, an HTTP workload that exited, or one another Berth started (found by its labels only). */
  address: WorkloadAddress | null;
  /** True when this runtime instance started it; false when it was found from a previous Berth's records. */
  owned: boolean;
}

/** The log lines a workload runtime writes and serves (LogStore fits it). */
export interface WorkloadLogLine {
  seq: number;
  ts: string;
  stream: 'stderr' | 'stdout' | 'system';
  line: string;
}

export interface WorkloadLogs {
  append(deploymentId: string, stream: WorkloadLogLine['stream'], line: string): void;
  read(deploymentId: string, opts?: { tail?: number }): Promise<WorkloadLogLine[]>;
  remove(deploymentId: string): Promise<void>;
}

/** What one revision's workload uses now (WorkloadRuntime.stats). */
export interface WorkloadStats {
  deploymentId: string;
  revision: number;
  /** Resident memory: the process trees' RSS (process, local-http), the container's cgroup usage (container). */
  memoryBytes: number;
  /** CPU time used since it started (reaped children included). */
  cpuSeconds: number;
  /** Processes running in it (a container: its tasks). */
  processes: number;
}

/** The runtime as the controller sees it: one interface, one driver per place workloads run (process, local-http, container…). */
export interface WorkloadRuntime {
  readonly name: string;
  /** Deploy-time check of a launch policy (Runtime.admit). */
  admit(policy: LaunchPolicy): void;
  isolation(policy: LaunchPolicy): IsolationView;
  notices(): string[];
  /**
   * Makes the workload exist and returns its state with an address. Idempotent: the same deployment and
   * revision again returns what exists (nothing is started twice; one that exited is started again).
   * Another revision of the same deployment is a second workload beside the first (blue-green): end the old
   * one with `stop(id, { revision })`. Rejects with a BerthError or LaunchError when it cannot be started
   * (an HTTP workload that exited before it was ready stays observable as `exited`).
   */
  ensure(workload: Workload): Promise<WorkloadState & { address: WorkloadAddress }>;
  /** What exists for the deployment now, or null. */
  observe(deploymentId: string): Promise<WorkloadState | null>;
  /** Every workload whose labels include all of `labels` (all of this runtime's when empty), including ones a previous Berth left. */
  list(labels?: Record<string, string>): Promise<WorkloadState[]>;
  /**
   * Stops the deployment's workload (only `revision` when given: the old side of a blue-green switch) and
   * forgets it; its work folder and logs stay (a stopped deployment keeps its HOME). Idempotent.
   */
  stop(deploymentId: string, opts?: { revision?: number; graceMs?: number }): Promise<void>;
  /** Stops everything of the deployment, deletes its work folder under the data dir, and its logs unless keepLogs. Idempotent. */
  remove(deploymentId: string, opts?: { keepLogs?: boolean; graceMs?: number }): Promise<void>;
  /** The last `tail` log lines of the deployment (default 200), oldest first. */
  logs(deploymentId: string, opts?: { tail?: number }): Promise<WorkloadLogLine[]>;
  /** What each running revision of the deployment uses now (empty when nothing runs), newest revision first. */
  stats(deploymentId: string): Promise<WorkloadStats[]>;
  /** Berth start-up: ends what a previous Berth left running (see Runtime.reapOrphans). */
  reapOrphans(): Promise<{ deploymentId: string; instanceKey: string; pid: number }[]>;
  /** Berth shutdown: stops every workload (their folders and logs stay). */
  stopAll(graceMs?: number): Promise<void>;
}
