import { BerthError } from '../core/errors.js';
import type { DeploymentSpec, EnvVar } from '../core/index.js';

const TYPE_CHECKS: Record<EnvVar['type'], (v: string) => boolean> = {
  string: () => true,
  integer: (v) => /^-?\d+$/.test(v),
  number: (v) => v.trim() !== '' && Number.isFinite(Number(v)),
  boolean: (v) => /^(true|false|1|0|yes|no)$/i.test(v),
};

/**
 * Check a spec's environment against its server definition's env_schema (seed 001):
 * every required variable has a value (or a default), and every value fits its type.
 * Throws VALIDATION_FAILED naming each problem.
 */
export function checkEnvAgainstSchema(spec: DeploymentSpec, schema: EnvVar[]): void {
  if (spec.type !== 'process') return;
  const issues: { field: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const v of schema) {
    if (seen.has(v.name)) issues.push({ field: `env_schema.${v.name}`, message: 'declared twice' });
    seen.add(v.name);
    const value = spec.env[v.name] ?? v.default ?? undefined;
    if (value === undefined || value === null) {
      if (v.required) issues.push({ field: `spec.env.${v.name}`, message: `required${v.description ? ` (${v.description})` : ''}` });
      continue;
    }
    if (!TYPE_CHECKS[v.type](value)) issues.push({ field: `spec.env.${v.name}`, message: `must be ${v.type === 'integer' ? 'an integer' : `a ${v.type}`}` });
  }
  if (issues.length > 0) {
    throw new BerthError('VALIDATION_FAILED', `Invalid environment: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, { issues });
  }
}

/** The environment a process is launched with: env_schema defaults, overridden by the spec's values. */
export function launchEnv(spec: DeploymentSpec & { type: 'process' }, schema: EnvVar[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of schema) if (v.default !== undefined && v.default !== null) env[v.name] = v.default;
  return Object.assign(env, spec.env);
}
