import type { PackageRegistry } from '../core/index.js';

/** One exact package Berth installs: what the cache key is made of (besides the resolved tree). */
export interface PackageRef {
  registry: PackageRegistry;
  name: string;
  /** Exact version (resolved at deploy time). */
  version: string;
  /** Lifecycle scripts (npm) / building sdists (pip) allowed: a different tree, so a different key. */
  installScripts: boolean;
}

/** Where an install runs and reports. */
export interface InstallContext {
  /** An empty folder on the cache's filesystem to install into; it becomes the entry. */
  dir: string;
  /** Progress lines for the deployment's log. */
  log: (line: string) => void;
  timeoutMs: number;
}

/** What a driver found after installing: recorded in the entry's manifest. */
export interface Installed {
  /** The resolved tree as text (npm's package-lock.json, pip's freeze list): its hash is part of the entry's name. */
  lock: string;
  /** The package's own executables: name → path relative to the entry. */
  bins: Record<string, string>;
  /** Host folders outside the entry that running it needs read-only (the Python installation a venv points at). */
  mounts: string[];
}

/** How to run an installed package: a launch minus what the deployment adds (its args, its env, its sandbox). */
export interface Entrypoint {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Read-only host paths the sandbox must show: the entry itself and anything it needs. */
  mounts: string[];
}

/** The manifest written into each cache entry (`berth-package.json`). */
export interface Manifest extends PackageRef, Installed {
  /** sha256 of `lock`, hex. */
  digest: string;
  installed_at: string;
}

/** One registry's installer. Sibling drivers: npm, pypi. */
export interface PackageDriver {
  readonly registry: PackageRegistry;
  /** The exact version `wanted` (absent: the latest) names. Throws PACKAGE_NOT_FOUND or PACKAGE_REGISTRY_UNAVAILABLE. */
  resolveVersion(name: string, wanted: string | undefined): Promise<string>;
  /** Installs the package into `ctx.dir`. Throws PACKAGE_INSTALL_FAILED (or PACKAGE_NOT_FOUND). */
  install(ref: PackageRef, ctx: InstallContext): Promise<Installed>;
  /** How to run executable `bin` of the entry at `dir` (pure: reads nothing but the manifest). */
  entrypoint(manifest: Manifest, dir: string, bin: string): Entrypoint;
}
