import type { PackageSpec } from '../core/index.js';
import type { PackageCache } from '../packages/index.js';

/** A package spec turned into what the runtime launches. */
export interface PackageLaunch {
  command: string;
  args: string[];
  /** The entrypoint's own variables; the deployment's env is laid over them. */
  env: Record<string, string>;
  /** Read-only folders the sandbox must show: the cache entry (and the interpreter a venv needs). */
  internalMounts: string[];
}

export interface PackageLaunchDeps {
  cache: Pick<PackageCache, 'ensure' | 'pin'>;
  /** A line for the deployment's log. */
  log: (line: string) => void;
  /** The deployment's status message while it starts ("installing @scope/pkg@1.2.3…"). */
  progress: (message: string) => void;
  /**
   * The package runs in a container (the base image, with the cache entry mounted read-only): an npm bin runs on the
   * image's own `node`, since the host's interpreter path means nothing there. A venv's python is in the entry.
   */
  inContainer?: boolean;
}

/** `registry:name@version`, as logs and messages show a package. */
export function packageLabel(spec: Pick<PackageSpec, 'registry' | 'name' | 'version'>): string {
  return `${spec.name}@${spec.version ?? 'latest'}`;
}

/** Deploy time: the spec with its version pinned to the exact one its version (absent, a range or a tag) names now. */
export async function pinPackageSpec(spec: PackageSpec, cache: Pick<PackageCache, 'pin'>): Promise<PackageSpec> {
  const version = await cache.pin(spec);
  return { ...spec, version };
}

/**
 * Start time: installs the package into the shared cache unless it is there already, and returns how
 * to run its executable directly (node on the npm bin, the venv's python on the console script), so
 * no npx or uvx process stays resident.
 */
export async function packageLaunch(spec: PackageSpec, deps: PackageLaunchDeps): Promise<PackageLaunch> {
  // Rows stored before pinning (or written by hand) are pinned at their start instead.
  const version = spec.version ?? (await deps.cache.pin(spec));
  const label = packageLabel({ ...spec, version });
  const ready = await deps.cache.ensure(
    { registry: spec.registry, name: spec.name, version, installScripts: spec.install_scripts },
    { ...(spec.bin === undefined ? {} : { bin: spec.bin }), log: deps.log, onInstall: () => deps.progress(`installing ${label}…`) },
  );
  const e = ready.entrypoint;
  const command = deps.inContainer && spec.registry === 'npm' ? 'node' : e.command;
  deps.log(`running ${ready.bin} of ${label} from the package cache${deps.inContainer ? ' in a container' : ''}: ${[command, ...e.args].join(' ')}`);
  return { command, args: [...e.args, ...spec.args], env: e.env, internalMounts: e.mounts };
}
