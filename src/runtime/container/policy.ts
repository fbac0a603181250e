/**
 * Deploy-time checks and the status view of a container's isolation. The engine enforces the limits (cgroups)
 * and the network (the deployment's own bridge network); `host` and `none` networks are refused: the first would
 * share the host's network, the second leaves Berth no way to reach the server.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import type { IsolationView, LimitName } from '../../core/isolation.js';
import type { LaunchPolicy, ServerLimits } from '../types.js';

export interface ContainerLimits {
  defaults: ServerLimits;
  max: ServerLimits;
}

const FIELD: Record<keyof ServerLimits, LimitName> = { memoryMb: 'memory_mb', pids: 'pids', cpus: 'cpus' };
const CONFIG_MAX: Record<keyof ServerLimits, string> = { memoryMb: 'BERTH_SERVER_MAX_MEMORY_MB', pids: 'BERTH_SERVER_MAX_PIDS', cpus: 'BERTH_SERVER_MAX_CPUS' };

/** The limits a container gets: the spec's, else the operator's defaults; above the maximum is refused (LIMIT_TOO_HIGH). */
export function resolveContainerLimits(asked: Partial<ServerLimits> | undefined, limits: ContainerLimits): ServerLimits {
  const out = { ...limits.defaults };
  for (const k of Object.keys(out) as (keyof ServerLimits)[]) {
    const v = asked?.[k];
    if (v === undefined) continue;
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new BerthError('VALIDATION_FAILED', `limits.${FIELD[k]} must be a positive number`);
    if (v > limits.max[k]) throw new BerthError('LIMIT_TOO_HIGH', `limits.${FIELD[k]} ${v} is above this Berth's maximum of ${limits.max[k]} (the operator sets it with ${CONFIG_MAX[k]})`, { field: `limits.${FIELD[k]}`, max: limits.max[k] });
    out[k] = v;
  }
  // Engines refuse a memory limit under 6 MiB.
  if (out.memoryMb < 6) throw new BerthError('VALIDATION_FAILED', 'limits.memory_mb must be at least 6 on the container runtime');
  return out;
}

export function admitContainerPolicy(policy: LaunchPolicy, limits: ContainerLimits, mountRoots: string[]): ServerLimits {
  const network = policy.network ?? 'egress';
  if (network === 'host') throw new BerthError('HOST_NETWORK_NOT_ALLOWED', 'spec.network "host" is not available on the container runtime: each deployment runs on its own network', { field: 'spec.network' });
  if (network === 'none') throw new BerthError('NETWORK_UNAVAILABLE', 'spec.network "none" is not available on the container runtime (Berth reaches the server over the deployment\'s own network); use "egress" or the process runtime', { field: 'spec.network' });
  const resolved = resolveContainerLimits(policy.limits, limits);
  for (const [i, m] of (policy.mounts ?? []).entries()) {
    const real = realOrSelf(m.path);
    if (!mountRoots.some((r) => under(real, realOrSelf(r)))) {
      throw new BerthError('MOUNT_NOT_ALLOWED', `mounts[${i}] ${m.path} is not under an allowed mount root (BERTH_MOUNT_ROOTS)`, { field: `mounts[${i}]` });
    }
  }
  return resolved;
}

export function containerIsolation(policy: LaunchPolicy, limits: ContainerLimits): IsolationView {
  let l: ServerLimits;
  try {
    l = resolveContainerLimits(policy.limits, limits);
  } catch {
    l = { ...limits.defaults, ...policy.limits };
  }
  return {
    sandbox: {
      kind: 'container',
      network: policy.network ?? 'egress',
      network_enforced: true,
      mounts: (policy.mounts ?? []).map((m) => ({ path: m.path, mode: m.mode })),
      warning: null,
    },
    limits: { memory_mb: l.memoryMb, pids: l.pids, cpus: l.cpus, enforced_by: 'container', unenforced: [] },
  };
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}
