import type { HostedSpec, WorkloadRuntimeName } from '../core/index.js';
import type { LaunchPolicy } from '../runtime/types.js';

/** The isolation part of a process or package spec, as the runtime takes it (deploy-time checks, launches, status). */
export function launchPolicy(spec: HostedSpec): LaunchPolicy {
  const l = spec.limits;
  const runtime = spec.type === 'image' ? 'container' : spec.runtime;
  return {
    ...(runtime === undefined ? {} : { runtime }),
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
    network: spec.network ?? 'egress',
    mounts: (spec.mounts ?? []).map((m) => ({ path: m.path, mode: m.mode })),
    limits: {
      ...(l?.memory_mb === undefined ? {} : { memoryMb: l.memory_mb }),
      ...(l?.pids === undefined ? {} : { pids: l.pids }),
      ...(l?.cpus === undefined ? {} : { cpus: l.cpus }),
    },
  };
}

/** The runtime a hosted spec runs on: an image always on containers, others as `spec.runtime` or the default. */
export function runtimeOf(spec: HostedSpec, defaultRuntime: WorkloadRuntimeName = 'process'): WorkloadRuntimeName {
  return spec.type === 'image' ? 'container' : (spec.runtime ?? defaultRuntime);
}
