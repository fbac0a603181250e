import { BerthError } from '../../core/errors.js';
import type { IsolationView, LimitEnforcer, LimitName, NetworkPolicy } from '../../core/isolation.js';
import type { LaunchPolicy, ServerLimits } from '../types.js';
import type { MountGuard } from './mounts.js';

export { DEFAULT_MAX_LIMITS, DEFAULT_SERVER_LIMITS } from '../../core/isolation.js';

const SPEC_FIELD: Record<keyof ServerLimits, LimitName> = { memoryMb: 'memory_mb', pids: 'pids', cpus: 'cpus' };
const CONFIG_MAX: Record<keyof ServerLimits, string> = { memoryMb: 'BERTH_SERVER_MAX_MEMORY_MB', pids: 'BERTH_SERVER_MAX_PIDS', cpus: 'BERTH_SERVER_MAX_CPUS' };

export interface PolicyFacts {
  sandbox: 'bubblewrap' | 'none';
  hostNetwork: 'allow' | 'deny';
  /** Tools egress needs that are missing (null when egress can be provided). */
  egressMissing: string[] | null;
  defaults: ServerLimits;
  max: ServerLimits;
  enforcer: LimitEnforcer;
  /** Limits nothing enforces with this enforcer. */
  unenforced: LimitName[];
  guard: MountGuard;
}

/** The limits a launch gets: the spec's, else the defaults; above the maximum is refused. */
export function resolveLimits(asked: Partial<ServerLimits> | undefined, facts: Pick<PolicyFacts, 'defaults' | 'max'>): ServerLimits {
  const out = { ...facts.defaults };
  for (const k of Object.keys(out) as (keyof ServerLimits)[]) {
    const v = asked?.[k];
    if (v === undefined) continue;
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new BerthError('VALIDATION_FAILED', `limits.${SPEC_FIELD[k]} must be a positive number`);
    if (v > facts.max[k]) {
      throw new BerthError('LIMIT_TOO_HIGH', `limits.${SPEC_FIELD[k]} ${v} is above this Berth's maximum of ${facts.max[k]} (the operator sets it with ${CONFIG_MAX[k]})`, { field: `limits.${SPEC_FIELD[k]}`, max: facts.max[k] });
    }
    out[k] = v;
  }
  return out;
}

export function checkNetwork(network: NetworkPolicy, facts: Pick<PolicyFacts, 'sandbox' | 'hostNetwork' | 'egressMissing'>): void {
  if (network === 'host' && facts.hostNetwork !== 'allow') {
    throw new BerthError(
      'HOST_NETWORK_NOT_ALLOWED',
      'spec.network "host" would let the server reach Berth, the other servers and the local network; use "egress" (the default) or "none", or the operator can allow it with BERTH_SANDBOX_HOST_NETWORK=allow',
      { field: 'spec.network' },
    );
  }
  if (network === 'egress' && facts.sandbox === 'bubblewrap' && facts.egressMissing) {
    throw new BerthError(
      'NETWORK_UNAVAILABLE',
      `spec.network "egress" needs ${facts.egressMissing.join(', ')} on the Berth host (Debian packages slirp4netns, iproute2, util-linux); install them, or deploy with spec.network "none"`,
      { field: 'spec.network', missing: facts.egressMissing },
    );
  }
}

/** Every deploy-time check of a policy; returns the limits it resolves to. */
export function admitPolicy(policy: LaunchPolicy, facts: PolicyFacts): ServerLimits {
  checkNetwork(policy.network ?? 'egress', facts);
  const limits = resolveLimits(policy.limits, facts);
  if (policy.cwd !== undefined) facts.guard.check(policy.cwd, 'cwd');
  for (const [i, m] of (policy.mounts ?? []).entries()) facts.guard.check(m.path, `mounts[${i}] (${m.mode})`);
  return limits;
}

/** What status shows: the isolation this policy actually gets here. */
export function isolationView(policy: LaunchPolicy, facts: PolicyFacts): IsolationView {
  const network = policy.network ?? 'egress';
  let limits: ServerLimits;
  try {
    limits = resolveLimits(policy.limits, facts);
  } catch {
    limits = { ...facts.defaults, ...policy.limits };
  }
  const warning =
    facts.sandbox === 'none'
      ? 'no sandbox (BERTH_SANDBOX=none or bubblewrap missing): the server sees the host\'s files and network; its network policy and mounts are not enforced'
      : network === 'host'
        ? 'the server shares the host\'s network (BERTH_SANDBOX_HOST_NETWORK=allow): it can reach Berth and the local network'
        : null;
  return {
    sandbox: {
      kind: facts.sandbox,
      network,
      network_enforced: facts.sandbox === 'bubblewrap' && network !== 'host',
      mounts: (policy.mounts ?? []).map((m) => ({ path: m.path, mode: m.mode })),
      warning,
    },
    limits: { memory_mb: limits.memoryMb, pids: limits.pids, cpus: limits.cpus, enforced_by: facts.enforcer, unenforced: facts.unenforced },
  };
}
