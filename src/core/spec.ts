import { z } from 'zod';
import { MOUNT_MODES, NETWORK_POLICIES } from './isolation.js';

/** One entry of a server definition's env_schema (seed 001). */
export const EnvVarSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name'),
  type: z.enum(['string', 'integer', 'number', 'boolean']).default('string'),
  description: z.string().max(1000).optional(),
  required: z.boolean().default(false),
  secret: z.boolean().default(false),
  default: z.string().nullable().optional(),
});
export type EnvVar = z.infer<typeof EnvVarSchema>;

const HealthSchema = z.strictObject({
  /** Seconds between probes; 0 disables periodic probes. */
  interval_s: z.number().int().min(0).max(86_400).default(30),
  /** Seconds a probe may take before it counts as failed. */
  timeout_s: z.number().positive().max(600).default(10),
  /** Consecutive failed probes before the server is restarted. */
  failures_before_restart: z.number().int().min(1).max(100).default(3),
});

const IsolatedSchema = z.strictObject({
  /** Most processes (and so sessions) at once. */
  max_sessions: z.number().int().min(1).max(10_000).default(32),
  /** Processes always kept started and waiting for the next session (the warm pool's floor). */
  warm: z.number().int().min(0).max(64).default(1),
  /**
   * Most processes the warm pool grows to with the rate of session opens (default max(warm, 16), never above
   * max_sessions); it shrinks back to `warm` when opens stop.
   */
  max_warm: z.number().int().min(0).max(256).optional(),
  /**
   * Warm processes are initialized by Berth ahead of time so a session opens at once (default true);
   * false for servers that must see each client's own clientInfo and capabilities in initialize.
   */
  prime: z.boolean().optional(),
}).refine((v) => v.max_warm === undefined || v.max_warm >= v.warm, { message: 'isolated.max_warm must be at least isolated.warm', path: ['max_warm'] });

/** Shared mode's options. */
const SharedSchema = z.strictObject({
  /**
   * The one handshake declares the client features shared mode can route (sampling, elicitation), and the server's
   * requests go to the client whose calls it is working on (default true). false: it declares none and every such
   * request is refused, for servers that do without a feature when the client lacks it.
   */
  client_features: z.boolean().optional(),
});

/** The runtimes a hosted spec may ask for (spec.runtime). */
export const WORKLOAD_RUNTIMES = ['process', 'container'] as const;
export type WorkloadRuntimeName = (typeof WORKLOAD_RUNTIMES)[number];

/** A secret's name: what follows `secret_ref:SCOPE:` (an environment variable name, at most 128 characters). */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Largest secret value, in UTF-8 bytes. */
export const SECRET_VALUE_MAX_BYTES = 64 * 1024;
/** Most secrets one scope (a deployment, or global) holds. */
export const SECRETS_PER_SCOPE_MAX = 200;

/** A secret value as the API accepts it: non-empty text of at most SECRET_VALUE_MAX_BYTES (zod messages never echo it). */
export const SecretValueSchema = z
  .string()
  .min(1, 'must not be empty')
  .refine((v) => Buffer.byteLength(v) <= SECRET_VALUE_MAX_BYTES, `must be at most ${SECRET_VALUE_MAX_BYTES} bytes`);

const envMap = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name'), z.string());

const absolutePath = z
  .string()
  .max(4096)
  .refine((p) => p.startsWith('/'), 'must be an absolute path')
  .refine((p) => !p.includes('\0'), 'must not contain NUL');

/** A host folder or file the sandboxed server sees at the same path. */
const MountSchema = z.strictObject({
  path: absolutePath.describe('Host path, under one of the operator\'s BERTH_MOUNT_ROOTS'),
  mode: z.enum(MOUNT_MODES).default('ro').describe('ro (default) or rw'),
});

/** Per-server resource limits; each absent one takes the operator's default (BERTH_SERVER_*). */
const LimitsSchema = z.strictObject({
  memory_mb: z.number().int().min(16).max(1_048_576).optional().describe('Memory in MiB (default BERTH_SERVER_MEMORY_MB, 512)'),
  pids: z.number().int().min(8).max(1_000_000).optional().describe('Most processes and threads (default BERTH_SERVER_PIDS, 256)'),
  cpus: z.number().min(0.01).max(1024).optional().describe('CPU cores, fractions allowed (default BERTH_SERVER_CPUS, 1)'),
});

/**
 * Scale to zero (seeds 000, 002, 004). `min: 0`: after `idle_s` without requests the server's processes stop
 * (status `idle`); listing is answered from what the revision last reported and the first call wakes it.
 */
export const ScaleSchema = z.strictObject({
  min: z.union([z.literal(0), z.literal(1)], { error: 'scale.min must be 0 or 1' }).default(1).describe('0: stop when idle and wake on the first call; 1 (default): always running'),
  max: z.number().int().min(1).max(10_000).optional().describe('Most processes at once: in isolated mode it caps max_sessions; a shared deployment runs one process'),
  idle_s: z.number().int().min(1).max(86_400).default(300).describe('Seconds without a request before an idle stop (min 0 only)'),
});
export type Scale = z.infer<typeof ScaleSchema>;

/**
 * What a server started on this host gets, whatever starts it (a command or a package): its working
 * directory, network, mounts, limits, mode and health checks. Shared by the process and package specs.
 */
const hostedShape = {
  cwd: absolutePath
    .describe('Working directory, an absolute path under one of BERTH_MOUNT_ROOTS (default: a folder of its own under the data directory); read-write in the sandbox')
    .optional(),
  /**
   * Network of the sandbox. Absent means `egress` (rows stored before the field existed have none).
   */
  network: z
    .enum(NETWORK_POLICIES, { error: `network must be one of ${NETWORK_POLICIES.join(', ')}` })
    .optional()
    .describe('egress (default: internet only, not the host, Berth or other servers), none (loopback only) or host (only when BERTH_SANDBOX_HOST_NETWORK=allow)'),
  /** Extra host paths the sandbox sees, read-only unless `mode: "rw"`. */
  mounts: z.array(MountSchema).max(32).optional(),
  limits: LimitsSchema.optional(),
  /** `shared`: one process multiplexed across sessions; `isolated`: one process per session. */
  mode: z.enum(['shared', 'isolated']).default('shared'),
  isolated: IsolatedSchema.default({ max_sessions: 32, warm: 1 }),
  shared: SharedSchema.optional(),
  health: HealthSchema.default({ interval_s: 30, timeout_s: 10, failures_before_restart: 3 }),
  /** Absent: always running (rows stored before the field existed have none). */
  scale: ScaleSchema.optional(),
  /**
   * Where it runs: `process` (a sandboxed child of Berth) or `container` (an image through the container engine).
   * Absent: the operator's default (BERTH_DEFAULT_RUNTIME). An `image` spec always runs as a container.
   */
  runtime: z
    .enum(WORKLOAD_RUNTIMES, { error: `runtime must be one of ${WORKLOAD_RUNTIMES.join(', ')}` })
    .optional()
    .describe('process or container (default: the operator\'s BERTH_DEFAULT_RUNTIME)'),
};

/** json_spec type `process`: a stdio MCP server started as a child process. */
export const ProcessSpecSchema = z.strictObject({
  type: z.literal('process'),
  command: z.string().min(1, 'command must not be empty'),
  args: z.array(z.string()).default([]),
  env: envMap.default({}),
  ...hostedShape,
});
export type ProcessSpec = z.infer<typeof ProcessSpecSchema>;

/** Registries a package spec may name (the MCP registry's server.json `registryType`s Berth installs). */
export const PACKAGE_REGISTRIES = ['npm', 'pypi'] as const;
export type PackageRegistry = (typeof PACKAGE_REGISTRIES)[number];

/** An npm package name (lower case, optional scope) or a PyPI project name; never a path, URL or flag. */
const NPM_NAME = /^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;
const PYPI_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;
/** A version, range or tag as npm or pip takes it (`1.2.3`, `^1.2`, `latest`); resolved to one exact version at deploy. */
const VERSION = /^[A-Za-z0-9^~<>=*.+_|-][A-Za-z0-9^~<>=*.+_| -]*$/;

/**
 * json_spec type `package`: a stdio MCP server installed from a package registry into Berth's shared,
 * read-only package cache and run directly (its bin with node, its console script with the venv's
 * python): no npx or uvx stays resident. Follows the MCP registry's server.json `packages` entries.
 */
export const PackageSpecSchema = z
  .strictObject({
    type: z.literal('package'),
    registry: z.enum(PACKAGE_REGISTRIES, { error: `registry must be one of ${PACKAGE_REGISTRIES.join(', ')}` }),
    name: z.string().min(1).max(214),
    /** Absent (or a range or tag): resolved at deploy time, and the exact version is what is stored. */
    version: z.string().min(1).max(64).regex(VERSION, 'must be a version, a range or a tag').optional(),
    /** Which of the package's executables to run when it has several (npm `bin` key, PyPI console script). */
    bin: z.string().min(1).max(214).regex(/^[A-Za-z0-9@._-]+$/, 'must be an executable name').optional(),
    args: z.array(z.string()).default([]),
    env: envMap.default({}),
    /**
     * Run the package's install scripts (npm lifecycle scripts, building a PyPI sdist). Off by default:
     * they run on the Berth host outside the sandbox, so the operator must allow them
     * (BERTH_PACKAGE_INSTALL_SCRIPTS=allow).
     */
    install_scripts: z.boolean().default(false),
    ...hostedShape,
  })
  .superRefine((s, ctx) => {
    const ok = s.registry === 'npm' ? NPM_NAME.test(s.name) : PYPI_NAME.test(s.name);
    if (!ok) ctx.addIssue({ code: 'custom', path: ['name'], message: `must be a${s.registry === 'npm' ? 'n npm package name (lower case, optional @scope/)' : ' PyPI project name'}` });
  });
export type PackageSpec = z.infer<typeof PackageSpecSchema>;
/** The specs whose server Berth starts on a runtime (a command, a package's executable, built source, an image). */
export type HostedSpec = ProcessSpec | PackageSpec | SourceSpec | ImageSpec;

/** A source digest: sha256 over the source tree Berth stores (src/sources), as `sha256:HEX`. */
export const SOURCE_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Where a source spec's code comes from. */
export const SourceRefSchema = z.discriminatedUnion('kind', [
  /** A ZIP or folder uploaded to Berth (POST /api/sources, or multipart with the deployment): its digest in the source store. */
  z.strictObject({
    kind: z.literal('upload'),
    digest: z.string().regex(SOURCE_DIGEST, 'must be sha256: followed by 64 hex digits'),
  }),
  /** A git repository, cloned shallow at deploy time; the commit and the stored tree's digest are recorded. */
  z.strictObject({
    kind: z.literal('git'),
    url: z.string().min(1).max(2048).refine((u) => /^(https?|ssh|file|git):\/\//.test(u) || /^[\w.-]+@[\w.-]+:/.test(u), 'must be an https, ssh, git or file URL'),
    /** Branch, tag or commit (default: the remote's default branch). */
    ref: z.string().min(1).max(255).regex(/^[^\s~^:?*[\\]+$/, 'must be a branch, tag or commit').optional(),
    /** Folder inside the repository that holds the server. */
    subdir: z.string().min(1).max(1024).refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path without ..').optional(),
    /** The secret (secret_ref:SCOPE:KEY) holding a token for a private repository; never logged, never in the revision. */
    token: z.string().regex(/^secret_ref:[^:]+:[A-Za-z_][A-Za-z0-9_]*$/, 'must be a secret reference secret_ref:SCOPE:KEY').optional(),
    /** Set by Berth at deploy: the commit the ref resolved to. */
    commit: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'must be a full commit id').optional(),
    /** Set by Berth at deploy: the digest of the stored tree. */
    digest: z.string().regex(SOURCE_DIGEST).optional(),
  }),
]);
export type SourceRef = z.infer<typeof SourceRefSchema>;

/**
 * json_spec type `source`: a server built from its code (a ZIP, a folder, a git repository). Berth detects the
 * language, package manager and start command (src/build/detect), installs the dependencies into the revision's
 * workspace (process runtime) or builds an image once per revision (container runtime).
 */
export const SourceSpecSchema = z.strictObject({
  type: z.literal('source'),
  source: SourceRefSchema,
  /** The start command, when detection's is not the right one (argv, no shell). */
  start: z.array(z.string().min(1)).min(1).max(64).optional(),
  /** Arguments appended to the start command. */
  args: z.array(z.string()).default([]),
  env: envMap.default({}),
  ...hostedShape,
});
export type SourceSpec = z.infer<typeof SourceSpecSchema>;

/** An OCI image reference: [registry/]name[:tag][@sha256:…]. */
const IMAGE_REF = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/;

/**
 * json_spec type `image`: an existing OCI image run as a container. `stdio`: its command is a stdio MCP server,
 * run behind Berth's bridge; `http`: it serves Streamable HTTP (or SSE) itself on `port` at `path`.
 */
export const ImageSpecSchema = z
  .strictObject({
    type: z.literal('image'),
    image: z.string().min(1).max(512).regex(IMAGE_REF, 'must be an image reference like registry/name:tag'),
    transport: z.enum(['stdio', 'http'], { error: 'transport must be stdio or http' }).default('stdio'),
    /** The command to run instead of the image's own (argv). */
    command: z.array(z.string().min(1)).min(1).max(64).optional(),
    args: z.array(z.string()).default([]),
    /** http: the port the server listens on inside the container. */
    port: z.number().int().min(1).max(65_535).optional(),
    /** http: the MCP path (default /mcp). */
    path: z.string().regex(/^\/[\w./-]*$/, 'must be a path starting with /').default('/mcp'),
    env: envMap.default({}),
    ...hostedShape,
  })
  .superRefine((s, ctx) => {
    if (s.transport === 'http' && s.port === undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: 'an http image needs the port it listens on' });
    if (s.runtime === 'process') ctx.addIssue({ code: 'custom', path: ['runtime'], message: 'an image runs only on the container runtime' });
  });
export type ImageSpec = z.infer<typeof ImageSpecSchema>;

/** A source as logs, history and status show it: `upload sha256:0123456789ab` or `git URL#ref:subdir @commit`. */
export function sourceLabel(ref: SourceRef): string {
  if (ref.kind === 'upload') return `upload ${ref.digest.slice(0, 19)}`;
  const at = ref.ref === undefined && ref.subdir === undefined ? '' : `#${ref.ref ?? ''}${ref.subdir === undefined ? '' : `:${ref.subdir}`}`;
  return `git ${ref.url}${at}${ref.commit === undefined ? '' : ` @${ref.commit.slice(0, 12)}`}`;
}

/** How Berth talks to a url deployment's remote; `auto` asks the remote at start. */
export const REMOTE_TRANSPORTS = ['auto', 'streamable-http', 'stateless', 'sse'] as const;

/** json_spec type `url`: a remote MCP endpoint Berth routes to (and translates for when revisions differ). */
export const UrlSpecSchema = z.strictObject({
  type: z.literal('url'),
  endpoint: z.url({ protocol: /^https?$/, error: 'endpoint must be an http(s) URL' }),
  headers: z.record(z.string(), z.string()).default({}),
  /**
   * What the remote speaks: `streamable-http` (2025-11-25, sessions), `stateless` (2026-07-28 only),
   * `sse` (legacy HTTP+SSE, 2024-11-05), or `auto`: detected at start. Absent means `auto` (rows
   * stored before the field existed have none).
   */
  transport: z
    .enum(REMOTE_TRANSPORTS, { error: `transport must be one of ${REMOTE_TRANSPORTS.join(', ')}` })
    .optional()
    .describe('What the remote speaks: auto (default: detected at start), streamable-http (2025-11-25 sessions), stateless (2026-07-28 only) or sse (legacy HTTP+SSE)'),
  timeout_s: z.number().positive().max(3600).default(300),
  health: HealthSchema.default({ interval_s: 30, timeout_s: 10, failures_before_restart: 3 }),
});
export type UrlSpec = z.infer<typeof UrlSpecSchema>;

export const DeploymentSpecSchema = z.discriminatedUnion('type', [ProcessSpecSchema, PackageSpecSchema, SourceSpecSchema, ImageSpecSchema, UrlSpecSchema]);
export type DeploymentSpec = z.infer<typeof DeploymentSpecSchema>;
export type DeploymentSpecInput = z.input<typeof DeploymentSpecSchema>;

/** The body of POST /api/deployments. */
export const CreateDeploymentSchema = z.strictObject({
  name: z.string().trim().min(1).max(100),
  description: z.string().max(2000).optional(),
  tags: z.array(z.string().min(1).max(64)).max(32).default([]),
  env_schema: z.array(EnvVarSchema).max(200).default([]),
  spec: DeploymentSpecSchema,
  /** `private` (default): MCP clients need a token with invoke scope. `public`: anyone may call its tools. */
  access: z.enum(['private', 'public'], { error: 'access must be private or public' }).default('private'),
  /**
   * Secret values of a process deployment, stored encrypted under the new deployment's id; `spec.env.KEY`
   * defaults to `secret_ref:ID:KEY` for each. Never returned by the API.
   */
  secrets: z
    .record(z.string().regex(SECRET_NAME, 'must be a valid environment variable name'), SecretValueSchema)
    .refine((m) => Object.keys(m).length <= SECRETS_PER_SCOPE_MAX, `at most ${SECRETS_PER_SCOPE_MAX} secrets`)
    .optional()
    .describe('Secret values (process deployments): stored encrypted; spec.env.KEY defaults to secret_ref:ID:KEY'),
  /** Start it right away (default) or leave it stopped. */
  start: z.boolean().default(true),
});
export type CreateDeploymentInput = z.input<typeof CreateDeploymentSchema>;

/**
 * The body of PATCH /api/deployments/ID. `spec` is a JSON merge patch (RFC 7396) on the current spec: objects
 * merge, `null` removes a key, arrays and other values replace; the result is validated as a whole spec.
 * A change of `spec`, `env_schema` or `secrets` makes a new revision (rolled out blue-green); the rest does not.
 */
export const UpdateDeploymentSchema = z.strictObject({
  name: z.string().trim().min(1).max(100).optional(),
  description: z.string().max(2000).nullable().optional(),
  tags: z.array(z.string().min(1).max(64)).max(32).optional(),
  access: z.enum(['private', 'public'], { error: 'access must be private or public' }).optional(),
  env_schema: z.array(EnvVarSchema).max(200).optional(),
  spec: z.record(z.string(), z.unknown()).optional().describe('JSON merge patch (RFC 7396) on the current spec'),
  secrets: CreateDeploymentSchema.shape.secrets,
});
export type UpdateDeployment = z.infer<typeof UpdateDeploymentSchema>;

/** RFC 7396 JSON merge patch: objects merge key by key, `null` deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (key === '__proto__') continue; // JSON may carry it as a plain key; assigning it would swap the prototype.
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value);
  }
  return base;
}
export type CreateDeployment = z.infer<typeof CreateDeploymentSchema>;
