/** Turning `berth update` options into a PATCH /api/deployments/ID body (the spec part is a JSON merge patch). */
import { InvalidArgumentError } from 'commander';
import type { MountMode, NetworkPolicy } from '../core/index.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface UpdateFlags {
  env?: Record<string, string>;
  unset?: string[];
  mount?: { path: string; mode: MountMode }[];
  /** `--no-mounts` makes it false. */
  mounts?: boolean;
  network?: NetworkPolicy;
  /** `--runtime process|container`: move it to the other runtime (a new revision, blue-green). */
  runtime?: 'process' | 'container';
  memory?: number;
  pids?: number;
  cpus?: number;
  isolated?: boolean;
  shared?: boolean;
  min?: 0 | 1;
  idle?: number;
  public?: boolean;
  private?: boolean;
  name?: string;
  description?: string;
  tag?: string[];
}

export function collectUnset(value: string, previous: string[] = []): string[] {
  if (!ENV_NAME.test(value)) throw new InvalidArgumentError(`expected an environment variable name, got '${value}'`);
  return [...previous, value];
}

export function parseMin(value: string): 0 | 1 {
  if (value !== '0' && value !== '1') throw new InvalidArgumentError(`expected 0 or 1, got '${value}'`);
  return value === '0' ? 0 : 1;
}

export function parseIdle(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 86_400) throw new InvalidArgumentError(`expected whole seconds from 1 to 86400, got '${value}'`);
  return n;
}

/** The scale part of a spec from `--min` / `--idle` (absent when neither is given). */
export function scaleOf(flags: { min?: 0 | 1; idle?: number }): { min?: 0 | 1; idle_s?: number } | undefined {
  if (flags.min === undefined && flags.idle === undefined) return undefined;
  return { ...(flags.min === undefined ? {} : { min: flags.min }), ...(flags.idle === undefined ? {} : { idle_s: flags.idle }) };
}

/** Builds the PATCH body; throws a plain Error with a usage message when flags contradict each other. */
export function buildUpdateBody(flags: UpdateFlags, commandLine: readonly string[]): Record<string, unknown> {
  if (flags.isolated && flags.shared) throw new Error('give either --isolated or --shared');
  if (flags.public && flags.private) throw new Error('give either --public or --private');
  if (flags.mount && flags.mounts === false) throw new Error('give either --mount or --no-mounts');
  for (const key of flags.unset ?? []) if (flags.env?.[key] !== undefined) throw new Error(`${key} is both set (-e) and removed (--unset)`);
  const spec: Record<string, unknown> = {};
  const env: Record<string, string | null> = { ...flags.env };
  for (const key of flags.unset ?? []) env[key] = null;
  if (Object.keys(env).length > 0) spec.env = env;
  const [command, ...args] = commandLine;
  if (command !== undefined) Object.assign(spec, { command, args });
  if (flags.mount) spec.mounts = flags.mount;
  if (flags.mounts === false) spec.mounts = null;
  if (flags.network !== undefined) spec.network = flags.network;
  if (flags.runtime !== undefined) spec.runtime = flags.runtime;
  const limits = { memory_mb: flags.memory, pids: flags.pids, cpus: flags.cpus };
  if (Object.values(limits).some((v) => v !== undefined)) spec.limits = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined));
  if (flags.isolated) spec.mode = 'isolated';
  if (flags.shared) spec.mode = 'shared';
  const scale = scaleOf(flags);
  if (scale) spec.scale = scale;
  const body: Record<string, unknown> = {};
  if (Object.keys(spec).length > 0) body.spec = spec;
  if (flags.public) body.access = 'public';
  if (flags.private) body.access = 'private';
  if (flags.name !== undefined) body.name = flags.name;
  if (flags.description !== undefined) body.description = flags.description;
  if (flags.tag) body.tags = flags.tag;
  return body;
}
