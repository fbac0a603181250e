/**
 * The MCP registry's server.json (static.modelcontextprotocol.io/schemas/…/server.schema.json), the parts Berth
 * deploys from: `packages` (npm, pypi, oci) with their transport, arguments and environment variables, and
 * `remotes` (streamable-http, sse) with their headers. Unknown fields are kept (the format grows); fields Berth
 * reads are checked, and a wrong one is named (CATALOG_ENTRY_INVALID).
 */
import { z } from 'zod';
import { BerthError } from '../../core/errors.js';

const text = (max: number) => z.string().max(max);

/** An environment variable, a header or a URL variable a user supplies (the registry's KeyValueInput / Input). */
export const InputSchema = z.looseObject({
  description: text(2000).optional(),
  isRequired: z.boolean().optional(),
  isSecret: z.boolean().optional(),
  format: z.enum(['string', 'number', 'boolean', 'filepath']).optional(),
  value: text(4096).optional(),
  default: text(4096).optional(),
  choices: z.array(text(1024)).max(100).optional(),
});

export const KeyValueInputSchema = InputSchema.extend({
  name: z.string().min(1).max(256),
});

export const EnvironmentVariableSchema = KeyValueInputSchema.extend({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name'),
});

export const ArgumentSchema = z.discriminatedUnion('type', [
  InputSchema.extend({ type: z.literal('positional'), valueHint: text(256).optional(), isRepeated: z.boolean().optional() }),
  InputSchema.extend({ type: z.literal('named'), name: z.string().regex(/^-{1,2}[A-Za-z0-9][\w.-]*$/, 'must be a flag like --name'), isRepeated: z.boolean().optional() }),
]);

const TransportSchema = z.looseObject({
  type: z.enum(['stdio', 'streamable-http', 'sse'], { error: 'must be stdio, streamable-http or sse' }),
  /** For an HTTP package: where it serves, e.g. http://localhost:8080/mcp. */
  url: text(2048).optional(),
  headers: z.array(KeyValueInputSchema).max(50).optional(),
});

export const PackageSchema = z.looseObject({
  registryType: z.enum(['npm', 'pypi', 'oci', 'nuget', 'mcpb'], { error: 'must be npm, pypi, oci, nuget or mcpb' }),
  registryBaseUrl: z.url().optional(),
  identifier: z.string().min(1).max(512),
  version: z.string().min(1).max(255).optional(),
  runtimeHint: text(64).optional(),
  transport: TransportSchema,
  runtimeArguments: z.array(ArgumentSchema).max(100).optional(),
  packageArguments: z.array(ArgumentSchema).max(100).optional(),
  environmentVariables: z.array(EnvironmentVariableSchema).max(200).optional(),
});

export const RemoteSchema = z.looseObject({
  type: z.enum(['streamable-http', 'sse'], { error: 'must be streamable-http or sse' }),
  url: z.string().max(2048).regex(/^(https?:\/\/|\{)/, 'must be an http(s) URL'),
  headers: z.array(KeyValueInputSchema).max(50).optional(),
  variables: z.record(z.string(), InputSchema).optional(),
});

export const ServerJsonSchema = z
  .looseObject({
    $schema: z.string().optional(),
    name: z.string().min(3).max(200).regex(/^[A-Za-z0-9.-]+\/[A-Za-z0-9._-]+$/, 'must be a reverse-DNS name like io.github.owner/server'),
    title: text(100).optional(),
    description: z.string().min(1).max(2000),
    version: z.string().min(1).max(255).optional(),
    websiteUrl: z.url().optional(),
    repository: z.looseObject({ url: z.string().max(2048), source: text(64).optional(), subfolder: text(1024).optional() }).optional(),
    packages: z.array(PackageSchema).max(20).optional(),
    remotes: z.array(RemoteSchema).max(20).optional(),
  })
  .superRefine((s, ctx) => {
    const deployable = (s.packages ?? []).some((p) => ['npm', 'pypi', 'oci'].includes(p.registryType)) || (s.remotes ?? []).length > 0;
    if (!deployable) ctx.addIssue({ code: 'custom', path: ['packages'], message: 'needs an npm, pypi or oci package, or a remote, for Berth to deploy' });
  });

export type ServerJson = z.infer<typeof ServerJsonSchema>;
export type ServerPackage = z.infer<typeof PackageSchema>;
export type ServerRemote = z.infer<typeof RemoteSchema>;
export type ServerArgument = z.infer<typeof ArgumentSchema>;

/** Checks a server.json; CATALOG_ENTRY_INVALID names each wrong field (`packages.0.registryType: …`). */
export function parseServerJson(value: unknown, what: string): ServerJson {
  const r = ServerJsonSchema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 20).map((i) => ({ field: i.path.map(String).join('.') || '(top)', message: i.message }));
  throw new BerthError('CATALOG_ENTRY_INVALID', `${what} is not a valid server.json: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, { issues });
}
