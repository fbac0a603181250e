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
export type LimitEnforcer = 'cgroup-v1' | 'cgroup-v2' | 'prlimit' | 'none';
export type LimitName = 'memory_mb' | 'pids' | 'cpus';

export interface LimitsView {
  memory_mb: number;
  pids: number;
  cpus: number;
  enforced_by: LimitEnforcer;
  /** Limits that are set but that nothing enforces here (e.g. CPU without cgroups). */
  unenforced: LimitName[];
}

export interface SandboxView {
  /** `none`: the server runs as a plain child process (BERTH_SANDBOX=none, or bubblewrap missing). */
  kind: 'bubblewrap' | 'none';
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
