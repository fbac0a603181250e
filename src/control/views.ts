import type { Deployment, DeploymentSpec, DeploymentView, EnvVar } from '../core/index.js';
import { REDACTED } from '../secrets/redactor.js';
import { hasRef } from '../secrets/refs.js';
import type { SecretInfo } from '../secrets/types.js';

/** Where clients reach a deployment's MCP endpoint. */
export function endpointUrl(publicUrl: string, id: string): string {
  return `${publicUrl}/s/${id}/mcp`;
}

export function uptimeSeconds(d: Deployment, now: number): number | null {
  if (d.status !== 'running' || !d.started_at) return null;
  return Math.max(0, Math.floor((now - Date.parse(d.started_at)) / 1000));
}

/**
 * The spec as the API shows it: references as they are, and (defence in depth: rows stored before
 * secrets existed) a header value, or a value of an env_schema `secret` variable, that is not a
 * reference is shown as `[redacted]`.
 */
export function publicSpec(spec: DeploymentSpec, schema: EnvVar[]): DeploymentSpec {
  const masked = (values: Record<string, string>, secret: (key: string) => boolean) =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k, secret(k) && !hasRef(v) ? REDACTED : v]));
  if (spec.type === 'url') return { ...spec, headers: masked(spec.headers, () => true) };
  const secrets = new Set(schema.filter((v) => v.secret).map((v) => v.name));
  return { ...spec, env: masked(spec.env, (k) => secrets.has(k)) };
}

export function toView(d: Deployment, publicUrl: string, now = Date.now()): DeploymentView {
  return { ...d, spec: publicSpec(d.spec, d.env_schema), endpoint: endpointUrl(publicUrl, d.id), uptime_s: uptimeSeconds(d, now) };
}

/** GET /api/deployments/:id/secrets and GET /api/secrets/global: names, never values. */
export interface SecretList {
  items: SecretInfo[];
}

/** POST /api/secrets/rotate-key */
export interface RotateResult {
  /** Id (fingerprint) of the new master key. */
  key_id: string;
  reencrypted: number;
}
