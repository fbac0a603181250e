import { z } from 'zod';
import type { RotateResult, SecretList } from './views.js';
import { BerthError } from '../core/errors.js';
import { parseOrThrow, SecretValueSchema, SECRETS_PER_SCOPE_MAX, type Deployment, type DeploymentSpec, type EnvVar } from '../core/index.js';
import type { MasterKeys } from '../secrets/master-key.js';
import type { Redactor } from '../secrets/redactor.js';
import { findRefs, hasRef, refText, substituteRefs, type SecretRef } from '../secrets/refs.js';
import { GLOBAL_SCOPE, type SecretInfo, type SecretStore } from '../secrets/types.js';
import type { DeploymentStore } from '../store/types.js';
import { envWithDefaults } from './env.js';

export interface SecretsServiceDeps {
  secrets: SecretStore;
  keys: Pick<MasterKeys, 'source' | 'rotate'>;
  redactor: Pick<Redactor, 'addGlobal' | 'addDeployment' | 'forget'>;
  deployments: Pick<DeploymentStore, 'get'>;
}

const SetSecretSchema = z.strictObject({ value: SecretValueSchema });

/** The name under which a plain-text url header is stored: `HEADER_` and the header name in capitals, `-` as `_`. */
export function headerSecretName(header: string): string {
  return `HEADER_${header.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`.slice(0, 128);
}

/** The fields of a spec that may hold references: environment values (defaults included) or header values. */
export function refFields(spec: DeploymentSpec, schema: EnvVar[]): { prefix: string; fields: Record<string, string> } {
  return spec.type !== 'url' ? { prefix: 'spec.env', fields: envWithDefaults(spec, schema) } : { prefix: 'spec.headers', fields: spec.headers };
}

/**
 * The spec of a new deployment with its secrets turned into references to its own scope: each
 * `secrets.KEY` becomes `spec.env.KEY = secret_ref:ID:KEY`, and each plain-text url header is moved
 * into a secret (headers carry credentials). Returns the values to store under the new id.
 */
export function withSecretRefs(id: string, spec: DeploymentSpec, secrets: Record<string, string> = {}): { spec: DeploymentSpec; values: Map<string, string> } {
  const values = new Map<string, string>();
  const names = Object.keys(secrets);
  if (spec.type === 'url') {
    if (names.length > 0) {
      throw new BerthError('VALIDATION_FAILED', 'secrets: applies to process deployments (spec.env); give a url deployment its credentials as spec.headers, which Berth stores as secrets');
    }
    const headers: Record<string, string> = {};
    for (const [header, value] of Object.entries(spec.headers)) {
      if (findRefs(value, `spec.headers.${header}`).length > 0) {
        headers[header] = value;
        continue;
      }
      const name = headerSecretName(header);
      if (values.has(name)) throw new BerthError('VALIDATION_FAILED', `spec.headers: two headers would be stored as the same secret ${name}`);
      values.set(name, value);
      headers[header] = refText(id, name);
    }
    return { spec: { ...spec, headers }, values };
  }
  if (spec.args.some(hasRef)) {
    throw new BerthError('VALIDATION_FAILED', 'spec.args: secret references are resolved only in spec.env (every user of the machine can read process arguments); pass the secret as an environment variable');
  }
  const env = { ...spec.env };
  for (const name of names) {
    if (env[name] !== undefined) throw new BerthError('VALIDATION_FAILED', `spec.env.${name} and secrets.${name} are both given; leave out spec.env.${name} (it becomes secret_ref:ID:${name})`);
    values.set(name, secrets[name]!);
    env[name] = refText(id, name);
  }
  return { spec: { ...spec, env }, values };
}

/** Secrets behind the API and CLI, and the work deployments need: checks at create, resolution at start. */
export class SecretsService {
  constructor(private readonly deps: SecretsServiceDeps) {}

  async list(scope: string): Promise<SecretList> {
    await this.checkScope(scope);
    return { items: await this.deps.secrets.list(scope) };
  }

  async set(scope: string, name: string, body: unknown): Promise<SecretInfo> {
    await this.checkScope(scope);
    const { value } = parseOrThrow(SetSecretSchema, body, 'secret');
    const existing = await this.deps.secrets.list(scope);
    if (existing.length >= SECRETS_PER_SCOPE_MAX && !existing.some((s) => s.name === name)) {
      throw new BerthError('VALIDATION_FAILED', `${scope} already has ${SECRETS_PER_SCOPE_MAX} secrets, the most one scope may hold`);
    }
    const info = await this.deps.secrets.set(scope, name, value);
    this.remember(scope, [value]);
    return info;
  }

  async remove(scope: string, name: string): Promise<void> {
    await this.checkScope(scope);
    if (!(await this.deps.secrets.delete(scope, name))) {
      throw new BerthError('SECRET_NOT_FOUND', `No secret ${name} in ${scope}`, { scope, name });
    }
  }

  rotateKey(): Promise<RotateResult> {
    return this.deps.keys.rotate((key) => this.deps.secrets.reencrypt(key));
  }

  /**
   * Every reference of a new deployment is its own or global, and exists (`pending` holds the values
   * about to be stored under `id`). Throws SECRET_REF_FORBIDDEN or SECRET_NOT_FOUND naming the reference.
   */
  async checkRefs(id: string, spec: DeploymentSpec, schema: EnvVar[], pending: Map<string, string>): Promise<void> {
    const { prefix, fields } = refFields(spec, schema);
    let globals: Set<string> | undefined;
    for (const [key, value] of Object.entries(fields)) {
      for (const ref of this.refsOf(id, value, `${prefix}.${key}`)) {
        if (ref.scope === id && pending.has(ref.name)) continue;
        if (ref.scope === GLOBAL_SCOPE) {
          globals ??= new Set((await this.deps.secrets.list(GLOBAL_SCOPE)).map((s) => s.name));
          if (globals.has(ref.name)) continue;
        }
        throw new BerthError('SECRET_NOT_FOUND', `${prefix}.${key}: ${ref.text} does not exist; set it first with: berth secrets set ${ref.scope} ${ref.name}`, { field: `${prefix}.${key}`, ref: ref.text });
      }
    }
  }

  /** Stores the values of a new deployment (before it exists, so its first start finds them). */
  async storeNew(id: string, values: Map<string, string>): Promise<void> {
    for (const [name, value] of values) await this.deps.secrets.set(id, name, value);
    this.remember(id, values.values());
  }

  /** A deployment is gone: its secrets go with it. */
  async dropScope(id: string): Promise<void> {
    await this.deps.secrets.deleteScope(id);
    this.deps.redactor.forget(id);
  }

  /**
   * `fields` of deployment `d` with every reference replaced by its value, for one start. The values
   * are handed to the redactor. A reference that no longer resolves throws SECRET_NOT_FOUND saying
   * which and how to fix it.
   */
  async resolve(d: Deployment, prefix: string, fields: Record<string, string>): Promise<Record<string, string>> {
    const found = new Map<string, string>();
    for (const [key, value] of Object.entries(fields)) {
      for (const ref of this.refsOf(d.id, value, `${prefix}.${key}`)) {
        if (found.has(ref.text)) continue;
        const secret = await this.deps.secrets.get(ref.scope, ref.name);
        if (secret === undefined) {
          throw new BerthError(
            'SECRET_NOT_FOUND',
            `${prefix}.${key} needs ${ref.text}, which does not exist: set it with "berth secrets set ${ref.scope} ${ref.name}", then start the deployment again with "berth start ${d.id}"`,
            { field: `${prefix}.${key}`, ref: ref.text },
          );
        }
        found.set(ref.text, secret);
      }
    }
    this.remember(d.id, found.values());
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(fields)) out[key] = substituteRefs(value, (ref) => found.get(ref.text) ?? ref.text);
    return out;
  }

  /**
   * The value of one whole reference (`secret_ref:SCOPE:KEY`, a git source's token), for deployment `deploymentId`
   * (its own scope or global). The value is handed to the redactor. SECRET_NOT_FOUND says how to set it.
   */
  async resolveRef(text: string, field: string, deploymentId?: string): Promise<string> {
    const refs = findRefs(text, field);
    const ref = refs[0];
    if (!ref || refs.length !== 1 || ref.text !== text) throw new BerthError('VALIDATION_FAILED', `${field}: must be one secret reference secret_ref:SCOPE:KEY`);
    if (ref.scope !== GLOBAL_SCOPE && ref.scope !== deploymentId) {
      throw new BerthError('SECRET_REF_FORBIDDEN', `${field}: ${ref.text} is not a secret of this deployment; use a global one (secret_ref:global:KEY) or this deployment's own`, { field, ref: ref.text });
    }
    const value = await this.deps.secrets.get(ref.scope, ref.name);
    if (value === undefined) {
      throw new BerthError('SECRET_NOT_FOUND', `${field}: ${ref.text} does not exist; set it first with: berth secrets set ${ref.scope} ${ref.name}`, { field, ref: ref.text });
    }
    this.remember(ref.scope, [value]);
    return value;
  }

  /** The references of one field; another deployment's secrets are off limits (SECRET_REF_FORBIDDEN). */
  private refsOf(id: string, value: string, field: string): SecretRef[] {
    const refs = findRefs(value, field);
    const foreign = refs.find((r) => r.scope !== id && r.scope !== GLOBAL_SCOPE);
    if (foreign) {
      throw new BerthError('SECRET_REF_FORBIDDEN', `${field}: ${foreign.text} is a secret of another deployment; use this deployment's own secrets or global ones (secret_ref:global:KEY)`, { field, ref: foreign.text });
    }
    return refs;
  }

  private remember(scope: string, values: Iterable<string>): void {
    if (scope === GLOBAL_SCOPE) this.deps.redactor.addGlobal(values);
    else this.deps.redactor.addDeployment(scope, values);
  }

  private async checkScope(scope: string): Promise<void> {
    if (scope === GLOBAL_SCOPE) return;
    const d = await this.deps.deployments.get(scope);
    if (!d || d.status === 'deleted') throw new BerthError('DEPLOYMENT_NOT_FOUND', `No deployment with id ${scope}`);
  }
}
