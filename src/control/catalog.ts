/**
 * Catalog use-cases: list, show, add and remove templates, and deploy one. A template (server.json) becomes a
 * CreateDeployment: an npm or pypi package → a `package` spec, an oci package → an `image` spec, a remote → a `url`
 * spec; its environmentVariables become the deployment's env_schema, and a secret one must come as a secret value
 * or a reference, never in plain text.
 */
import { z } from 'zod';
import { BerthError } from '../core/errors.js';
import { CreateDeploymentSchema, mergePatch, parseOrThrow, SECRET_NAME, type CreateDeploymentInput, type DeploymentView, type EnvVar } from '../core/index.js';
import { hasRef } from '../secrets/refs.js';
import type { Catalog, CatalogEntry, ServerArgument, ServerPackage, ServerRemote } from '../sources/catalog/index.js';
import type { Actor } from './deployments.js';

/** The body of POST /api/catalog/NAME/deploy. */
export const CatalogDeploySchema = z.strictObject({
  name: z.string().trim().min(1).max(100).optional().describe('deployment name (default: the template\'s name)'),
  description: z.string().max(2000).optional(),
  tags: z.array(z.string().min(1).max(64)).max(32).optional(),
  access: z.enum(['private', 'public']).optional(),
  start: z.boolean().optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name'), z.string()).default({}).describe('values of the template\'s environmentVariables (a secret one may be secret_ref:…)'),
  secrets: CreateDeploymentSchema.shape.secrets,
  args: z.array(z.string()).max(256).optional().describe('the package\'s arguments, instead of the template\'s'),
  from: z.enum(['npm', 'pypi', 'oci', 'remote']).optional().describe('which of the template\'s packages or remotes to deploy (default: npm or pypi, then oci, then the remote)'),
  spec: z.record(z.string(), z.unknown()).optional().describe('JSON merge patch on the spec made from the template (mounts, network, limits, runtime, scale…)'),
});
export type CatalogDeployInput = z.input<typeof CatalogDeploySchema>;
type CatalogDeploy = z.infer<typeof CatalogDeploySchema>;

export interface CatalogServiceDeps {
  catalog: Pick<Catalog, 'list' | 'get' | 'add' | 'remove'>;
  deployments: { create(body: unknown, actor?: Actor): Promise<DeploymentView> };
}

export class CatalogService {
  constructor(private readonly deps: CatalogServiceDeps) {}

  list(q?: string): Promise<CatalogEntry[]> {
    return this.deps.catalog.list(q);
  }

  get(name: string): Promise<CatalogEntry> {
    return this.deps.catalog.get(name);
  }

  add(body: unknown, name?: string): Promise<CatalogEntry> {
    return this.deps.catalog.add(body, name === undefined ? {} : { name });
  }

  remove(name: string): Promise<CatalogEntry> {
    return this.deps.catalog.remove(name);
  }

  /** Deploys template `name` (DeploymentService.create does every check a hand-written spec gets). */
  async deploy(name: string, body: unknown, actor: Actor = null): Promise<DeploymentView> {
    const input = parseOrThrow(CatalogDeploySchema, body ?? {}, 'catalog deployment');
    const entry = await this.deps.catalog.get(name);
    return this.deps.deployments.create(createFromTemplate(entry, input), actor);
  }
}

/** The CreateDeployment a template and the user's values make. Throws VALIDATION_FAILED naming what is missing. */
export function createFromTemplate(entry: CatalogEntry, input: CatalogDeploy): CreateDeploymentInput {
  const server = entry.server;
  const choice = pick(entry, input.from);
  const env = { ...input.env };
  const secrets = { ...input.secrets };
  let env_schema: EnvVar[] = [];
  let spec: Record<string, unknown>;
  if (choice.kind === 'remote') {
    spec = remoteSpec(entry, choice.remote, env, secrets);
  } else {
    const p = choice.pkg;
    env_schema = (p.environmentVariables ?? []).map((v) => ({
      name: v.name,
      type: v.format === 'number' ? 'number' : v.format === 'boolean' ? 'boolean' : 'string',
      ...(v.description ? { description: v.description } : {}),
      required: v.isRequired === true,
      secret: v.isSecret === true,
      default: v.isSecret ? null : (v.default ?? v.value ?? null),
    }));
    const missing: string[] = [];
    for (const v of env_schema) {
      // A secret given in plain text is taken as a secret value: stored encrypted, the spec gets a reference.
      if (v.secret && env[v.name] !== undefined && !hasRef(env[v.name]!)) {
        if (secrets[v.name] !== undefined) throw new BerthError('VALIDATION_FAILED', `${v.name} is given both in env and in secrets`);
        secrets[v.name] = env[v.name]!;
        delete env[v.name];
      }
      const given = env[v.name] !== undefined || secrets[v.name] !== undefined || (v.default !== null && v.default !== undefined);
      if (v.required && !given) missing.push(`${v.name}${v.secret ? ' (secret: --secret ' + v.name + ')' : ` (-e ${v.name}=…)`}${v.description ? `: ${v.description}` : ''}`);
    }
    if (missing.length > 0) {
      throw new BerthError('VALIDATION_FAILED', `catalog template ${entry.name} needs ${missing.join('; ')}`, { issues: missing.map((m) => ({ field: `env.${m.split(' ')[0]}`, message: 'required' })) });
    }
    const args = input.args ?? templateArgs(entry.name, p.packageArguments ?? []);
    spec = p.registryType === 'oci' ? imageSpec(p, args, env) : { type: 'package', registry: p.registryType, name: p.identifier, ...(p.version ? { version: p.version } : {}), args, env };
  }
  const merged = input.spec ? mergePatch(spec, input.spec) : spec;
  const secretNames = Object.keys(secrets);
  return {
    name: input.name ?? entry.name,
    description: input.description ?? server.description,
    tags: input.tags ?? [`catalog:${entry.name}`],
    env_schema,
    spec: merged as CreateDeploymentInput['spec'],
    ...(input.access ? { access: input.access } : {}),
    ...(input.start === undefined ? {} : { start: input.start }),
    ...(secretNames.length > 0 ? { secrets } : {}),
  };
}

type Choice = { kind: 'package'; pkg: ServerPackage } | { kind: 'remote'; remote: ServerRemote };

function pick(entry: CatalogEntry, from: CatalogDeploy['from']): Choice {
  const pkgs = entry.server.packages ?? [];
  const remotes = entry.server.remotes ?? [];
  if (from === 'remote') {
    if (remotes[0]) return { kind: 'remote', remote: remotes[0] };
  } else if (from) {
    const p = pkgs.find((x) => x.registryType === from);
    if (p) return { kind: 'package', pkg: p };
  } else {
    const p = pkgs.find((x) => x.registryType === 'npm' || x.registryType === 'pypi') ?? pkgs.find((x) => x.registryType === 'oci');
    if (p) return { kind: 'package', pkg: p };
    if (remotes[0]) return { kind: 'remote', remote: remotes[0] };
  }
  const has = [...new Set([...pkgs.map((p) => p.registryType), ...(remotes.length > 0 ? ['remote'] : [])])].join(', ');
  throw new BerthError('VALIDATION_FAILED', `catalog template ${entry.name} has no ${from ?? 'npm, pypi or oci package or remote'} to deploy (it has: ${has || 'nothing'})`);
}

/** The template's package arguments: positional values, `--flag value`; a required one without a value must come from the user. */
function templateArgs(name: string, args: ServerArgument[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    const value = a.value ?? a.default;
    if (value === undefined) {
      if (a.isRequired) {
        const what = a.type === 'named' ? a.name : `<${a.type === 'positional' && a.valueHint ? a.valueHint : 'value'}>`;
        throw new BerthError('VALIDATION_FAILED', `catalog template ${name} needs the argument ${what}${a.description ? ` (${a.description})` : ''}: give the arguments after --, e.g. berth deploy catalog:${name} -- ${a.type === 'named' ? `${a.name} VALUE` : 'VALUE'} (API: "args")`);
      }
      continue;
    }
    if (a.type === 'named') out.push(a.name, value);
    else out.push(value);
  }
  return out;
}

/** An oci package: the image (identifier, with the version as its tag when the identifier has none), stdio or HTTP. */
function imageSpec(p: ServerPackage, args: string[], env: Record<string, string>): Record<string, unknown> {
  const tagged = /[:@][^/]*$/.test(p.identifier.replace(/^[^/]*\//, '')) || !p.version ? p.identifier : `${p.identifier}:${p.version}`;
  const image = tagged.replace(/^docker\.io\//, '');
  if (p.transport.type === 'stdio') return { type: 'image', image, transport: 'stdio', args, env };
  let port = 8080;
  let path = '/mcp';
  if (p.transport.url) {
    try {
      const u = new URL(p.transport.url.replace(/\{[^}]*\}/g, 'x'));
      if (u.port) port = Number(u.port);
      if (u.pathname && u.pathname !== '/') path = u.pathname;
    } catch {
      // a templated URL Berth cannot read: the defaults stand
    }
  }
  return { type: 'image', image, transport: 'http', port, path, args, env };
}

/** A remote: the URL (its {variables} from env), headers from secrets (a secret header) or env, or the template's value. */
function remoteSpec(entry: CatalogEntry, r: ServerRemote, env: Record<string, string>, secrets: Record<string, string>): Record<string, unknown> {
  const missing: string[] = [];
  const endpoint = r.url.replace(/\{([^}]+)\}/g, (_m, v: string) => {
    const value = env[v] ?? r.variables?.[v]?.default;
    if (value === undefined) {
      missing.push(`${v} (-e ${v}=…)`);
      return '';
    }
    delete env[v];
    return value;
  });
  const headers: Record<string, string> = {};
  for (const h of r.headers ?? []) {
    const value = secrets[h.name] ?? env[h.name] ?? (h.value && !/\{[^}]+\}/.test(h.value) ? h.value : h.default);
    delete secrets[h.name];
    delete env[h.name];
    if (value !== undefined) headers[h.name] = value;
    else if (h.isRequired) missing.push(`the header ${h.name}${h.isSecret ? ` (secret: --secret ${h.name})` : ''}${h.description ? `: ${h.description}` : ''}`);
  }
  if (missing.length > 0) throw new BerthError('VALIDATION_FAILED', `catalog template ${entry.name} needs ${missing.join('; ')}`);
  const extra = [...Object.keys(env), ...Object.keys(secrets)].filter((k) => SECRET_NAME.test(k));
  if (extra.length > 0) throw new BerthError('VALIDATION_FAILED', `catalog template ${entry.name} is a remote: ${extra.join(', ')} is neither a URL variable nor a header it takes`);
  return { type: 'url', endpoint, headers, ...(r.type === 'sse' ? { transport: 'sse' } : {}) };
}
