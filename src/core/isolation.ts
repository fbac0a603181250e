/**
 * How a process deployment is isolated from the host: the policy a spec asks for (network, mounts,
 * limits) and the view of what actually applies, as the status API shows it.
 */

/** `egress`: own network namespace with outbound internet only; `none`: loopback only; `host`: the host's network. */
export const NETWORK_POLICIES = ['egress', 'none', 'host'] as const;
export type NetworkPolicy = (typeof NETWORK_POLICIES)[number];

export const MOUNT_MODES = ['ro', 'rw'] as const;
export type MountMode = (typeof MOUNT_MODES)[number];

/** What enforces a server's memory, pids and CPU limits. */
export type LimitEnforcer = 'cgroup-v1' | 'cgroup-v2' | 'prlimit' | 'container' | 'none';
export type LimitName = 'memory_mb' | 'pids' | 'cpus';

/** A server's limits: memory in MiB, processes and threads, CPU cores (fractions allowed). */
export interface ServerLimits {
  memoryMb: number;
  pids: number;
  cpus: number;
}

/** A server's limits unless its spec says otherwise (the defaults of BERTH_SERVER_MEMORY_MB, _PIDS, _CPUS). */
export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = { memoryMb: 512, pids: 256, cpus: 1 };
/** The most a spec may ask for unless the operator says otherwise (BERTH_SERVER_MAX_*). */
export const DEFAULT_MAX_LIMITS: Readonly<ServerLimits> = { memoryMb: 8192, pids: 4096, cpus: 4 };

export interface LimitsView {
  memory_mb: number;
  pids: number;
  cpus: number;
  enforced_by: LimitEnforcer;
  /** Limits that are set but that nothing enforces here (e.g. CPU without cgroups). */
  unenforced: LimitName[];
}

export interface SandboxView {
  /** `none`: the server runs as a plain child process (BERTH_SANDBOX=none, or bubblewrap missing); `container`: in a container (the container runtime). */
  kind: 'bubblewrap' | 'container' | 'none';
  network: NetworkPolicy;
  /** False when the policy is only on paper (no sandbox). */
  network_enforced: boolean;
  mounts: { path: string; mode: MountMode }[];
  /** Set when the server is less isolated than its spec says, with why. */
  warning: string | null;
}

export interface IsolationView {
  sandbox: SandboxView;
  limits: LimitsView;
}
