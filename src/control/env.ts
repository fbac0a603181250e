import { BerthError } from '../core/errors.js';
import type { Deployment, DeploymentSpec, EnvVar, HostedSpec } from '../core/index.js';
import { isWholeRef } from '../secrets/refs.js';

const TYPE_CHECKS: Record<EnvVar['type'], (v: string) => boolean> = {
  string: () => true,
  integer: (v) => /^-?\d+$/.test(v),
  number: (v) => v.trim() !== '' && Number.isFinite(Number(v)),
  boolean: (v) => /^(true|false|1|0|yes|no)$/i.test(v),
};

/**
 * Check a spec's environment against its server definition's env_schema (seed 001):
 * every required variable has a value (or a default), every value fits its type, and a
 * variable marked `secret` is given only as a reference (`secret_ref:…`), never in plain text.
 * Throws VALIDATION_FAILED naming each problem (never a value).
 */
export function checkEnvAgainstSchema(spec: DeploymentSpec, schema: EnvVar[]): void {
  if (spec.type === 'url') return;
  const issues: { field: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const v of schema) {
    if (seen.has(v.name)) issues.push({ field: `env_schema.${v.name}`, message: 'declared twice' });
    seen.add(v.name);
    if (v.secret && v.default !== undefined && v.default !== null) {
      issues.push({ field: `env_schema.${v.name}.default`, message: 'a secret has no default in plain text' });
    }
    const value = spec.env[v.name] ?? v.default ?? undefined;
    if (value === undefined || value === null) {
      if (v.required) issues.push({ field: `spec.env.${v.name}`, message: `required${v.description ? ` (${v.description})` : ''}` });
      continue;
    }
    if (v.secret) {
      if (!isWholeRef(value, `spec.env.${v.name}`)) {
        issues.push({ field: `spec.env.${v.name}`, message: `is a secret: give it in "secrets" (berth deploy --secret ${v.name}) or as a reference secret_ref:global:KEY, not in plain text` });
      }
      continue; // its type is the value's, which is checked nowhere it could be shown
    }
    if (!TYPE_CHECKS[v.type](value)) issues.push({ field: `spec.env.${v.name}`, message: `must be ${v.type === 'integer' ? 'an integer' : `a ${v.type}`}` });
  }
  if (issues.length > 0) {
    throw new BerthError('VALIDATION_FAILED', `Invalid environment: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, { issues });
  }
}

/** env_schema defaults, overridden by the spec's values (references not yet resolved). */
export function envWithDefaults(spec: HostedSpec, schema: EnvVar[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of schema) if (v.default !== undefined && v.default !== null) env[v.name] = v.default;
  return Object.assign(env, spec.env);
}

/** Replaces the references in a deployment's fields by their values (SecretsService.resolve). */
export type ResolveSecrets = (d: Deployment, prefix: string, fields: Record<string, string>) => Promise<Record<string, string>>;

/** The environment a process or package deployment is launched with: env_schema defaults, overridden by the spec's values, references resolved. */
export async function launchEnv(d: Deployment, resolve: ResolveSecrets): Promise<Record<string, string>> {
  if (d.spec.type === 'url') throw new BerthError('INTERNAL', `Deployment ${d.id} is a url deployment, which is not launched`);
  return resolve(d, 'spec.env', envWithDefaults(d.spec, d.env_schema));
}
