/** The package cache (see docs/adr/0018-package-cache.md): one interface, a driver per registry. */
export { chooseBin, INSTALL_LOG_LINES, keyOf, PackageCache, removeTree, safeName, type EnsureOptions, type PackageCacheOptions, type ReadyPackage } from './cache.js';
export { NpmDriver, tarballName, type NpmDriverOptions } from './npm.js';
export { PypiDriver, type PypiDriverOptions } from './pypi.js';
export { runTool, type ToolResult, type ToolRun, type ToolRunner } from './run.js';
export type { Entrypoint, InstallContext, Installed, Manifest, PackageDriver, PackageRef } from './types.js';
