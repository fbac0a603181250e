/** `berth deploy catalog:NAME [-e K=V] [--secret K] [-- ARGS…]` as the body of POST /api/catalog/NAME/deploy. */
import path from 'node:path';
import type { CatalogDeployInput } from '../api/contract.js';
import type { DeployFlags } from './deploy-args.js';
import { scaleOf } from './update-args.js';

export const CATALOG_PREFIX = 'catalog:';

/** `catalog:NAME` → NAME; null when the command line is not a catalog deployment. */
export function catalogTarget(commandLine: readonly string[]): string | null {
  const first = commandLine[0];
  if (first === undefined || !first.startsWith(CATALOG_PREFIX)) return null;
  const name = first.slice(CATALOG_PREFIX.length);
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) throw new Error(`catalog:NAME takes a template name (see berth catalog), got '${first}'`);
  return name;
}

/** The deploy body for a template: the flags that fit a template; what follows `catalog:NAME --` replaces its arguments. */
export function buildCatalogInput(flags: DeployFlags, commandLine: readonly string[]): CatalogDeployInput {
  if (flags.url !== undefined) throw new Error('give either catalog:NAME or --url, not both');
  if (flags.package) throw new Error('give either catalog:NAME or --package, not both');
  if (flags.header) throw new Error('--header does not apply to catalog:NAME; give a remote template\'s headers with --secret NAME');
  for (const name of flags.secret ?? []) {
    if (name.includes('=') || name.includes(':')) throw new Error('--secret takes a name only: its value is read from stdin or a prompt, never from the command line');
  }
  const args = commandLine.slice(1);
  const spec: Record<string, unknown> = {
    ...(flags.cwd === undefined ? {} : { cwd: path.resolve(flags.cwd) }),
    ...(flags.mount ? { mounts: flags.mount } : {}),
    ...(flags.network === undefined ? {} : { network: flags.network }),
    ...(flags.memory === undefined && flags.pids === undefined && flags.cpus === undefined
      ? {}
      : { limits: { ...(flags.memory === undefined ? {} : { memory_mb: flags.memory }), ...(flags.pids === undefined ? {} : { pids: flags.pids }), ...(flags.cpus === undefined ? {} : { cpus: flags.cpus }) } }),
    ...(flags.isolated ? { mode: 'isolated' } : {}),
    ...(flags.runtime === undefined ? {} : { runtime: flags.runtime }),
    ...(scaleOf(flags) ? { scale: scaleOf(flags) } : {}),
  };
  return {
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(flags.description === undefined ? {} : { description: flags.description }),
    ...(flags.tag ? { tags: flags.tag } : {}),
    ...(flags.public ? { access: 'public' as const } : {}),
    start: flags.start,
    env: flags.env ?? {},
    ...(args.length > 0 ? { args } : {}),
    ...(Object.keys(spec).length > 0 ? { spec } : {}),
  };
}
