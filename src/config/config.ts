import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';
import { BerthError } from '../core/errors.js';
import { DEFAULT_MAX_LIMITS, DEFAULT_SERVER_LIMITS } from '../core/isolation.js';
import { issuesOf } from '../core/validate.js';

/** A comma list in an env var (a list given directly, e.g. by a test, is taken as it is). */
const listOf = <T extends z.ZodType<string>>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : v), z.array(item));
const list = listOf(z.string().min(1));
/** `loopback`, `private`, an IP address, or a CIDR (`10.1.0.0/16`, `fd12::/16`). */
function isRemoteAllowEntry(v: string): boolean {
  if (v === 'loopback' || v === 'private') return true;
  const [addr = '', prefix, extra] = v.split('/');
  const family = isIP(addr);
  if (family === 0 || extra !== undefined) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}
const absoluteList = listOf(z.string().refine((p) => p.startsWith('/'), 'must be a comma list of absolute paths'));
const cpus = (def: number) => z.coerce.number().min(0.01).max(1024).default(def);
const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/**
 * The one config schema. Every setting comes from a BERTH_* environment variable;
 * the defaults give a working single-machine Berth (SQLite, process runtime) with no setup.
 */
export const ConfigSchema = z.object({
  /** BERTH_HOST: address to listen on. Loopback by default: set 0.0.0.0 (and BERTH_API_TOKEN) to serve a network. */
  host: z.string().min(1).default('127.0.0.1'),
  /** BERTH_PORT: one port for the gateway, the API and the dashboard. */
  port: int(8080, 0, 65_535),
  /** BERTH_DATA_DIR: database, logs, pid files, working dirs. */
  dataDir: z.string().min(1).default('.berth'),
  /** BERTH_DATABASE_URL: `sqlite:PATH` (default `sqlite:<dataDir>/berth.db`) or `postgres://…`. */
  databaseUrl: z.string().optional(),
  /** BERTH_PUBLIC_URL: how clients reach Berth; used to print endpoints. Default http://HOST:PORT. */
  publicUrl: z.url().optional(),
  /** BERTH_BASE_DOMAIN: serve `https://ID.BASE_DOMAIN/mcp` by Host header as well as /s/ID/mcp. */
  baseDomain: z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i, 'must be a domain name without port').optional(),
  /** BERTH_ALLOWED_HOSTS: Host values served (comma list; `*.domain`, `*` for any). Default: loopback, the public URL's host, *.BASE_DOMAIN. */
  allowedHosts: list.optional(),
  /** BERTH_ALLOWED_ORIGINS: browser Origins accepted (comma list of `https://host[:port]`, `*.domain`, or `*`). Default: Berth's own origin, exactly. */
  allowedOrigins: list.optional(),
  /** BERTH_TRUSTED_PROXIES: addresses/CIDRs (or `loopback`) whose X-Forwarded-Host is believed. Default: none. */
  trustedProxies: list.default([]),
  /**
   * BERTH_REMOTE_ALLOW: the non-public addresses url deployments may connect to (comma list of `loopback`,
   * `private` (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) and addresses or CIDRs). Default: none, public
   * addresses only. Link-local, cloud metadata, unspecified, multicast and broadcast addresses are never allowed.
   */
  remoteAllow: listOf(z.string().refine(isRemoteAllowEntry, { error: (iss) => `${JSON.stringify(iss.input)} is not loopback, private, an IP address or a CIDR` })).default([]),
  /**
   * BERTH_API_TOKEN: an admin token the operator supplies (e.g. from a secret manager), accepted while it is
   * set and never stored. Without it, the first start creates an admin token and prints it once.
   */
  apiToken: z.string().regex(/^brt_[A-Za-z0-9]{32,}$/, 'must be brt_ followed by at least 32 letters and digits').optional(),
  /**
   * BERTH_RUNTIME: where workloads run. `process` (default): each server is a sandboxed child process and its
   * bridge runs inside Berth. `local-http`: each server runs behind its own bridge program (`berth bridge`) in a
   * sandboxed child on a 127.0.0.1 port, reached over HTTP like a container (spec.network is not enforced).
   */
  runtime: z.enum(['process', 'local-http']).default('process'),
  /** BERTH_SANDBOX: process sandbox (auto = bubblewrap when installed). */
  sandbox: z.enum(['auto', 'bubblewrap', 'none']).default('auto'),
  /** BERTH_SANDBOX_HOST_NETWORK: `allow` lets a deployment ask for spec.network "host" (the host's network: Berth, other servers, the LAN). Default deny. */
  sandboxHostNetwork: z.enum(['deny', 'allow']).default('deny'),
  /** BERTH_MOUNT_ROOTS: comma list of absolute folders under which a deployment's cwd and mounts may lie. Default none: a server gets only its own work folder. */
  mountRoots: absoluteList.default([]),
  /** BERTH_LIMITS: how server limits are enforced: auto (cgroups when writable, else prlimit), cgroup (required), prlimit. */
  limits: z.enum(['auto', 'cgroup', 'prlimit']).default('auto'),
  /** BERTH_SERVER_MEMORY_MB: memory of each server process (and its children) unless its spec says otherwise. */
  serverMemoryMb: int(DEFAULT_SERVER_LIMITS.memoryMb, 16, 1_048_576),
  /** BERTH_SERVER_PIDS: processes and threads of each server unless its spec says otherwise. */
  serverPids: int(DEFAULT_SERVER_LIMITS.pids, 8, 1_000_000),
  /** BERTH_SERVER_CPUS: CPU cores of each server (fractions allowed) unless its spec says otherwise. */
  serverCpus: cpus(DEFAULT_SERVER_LIMITS.cpus),
  /** BERTH_SERVER_MAX_MEMORY_MB: the most memory a spec may ask for. */
  serverMaxMemoryMb: int(DEFAULT_MAX_LIMITS.memoryMb, 16, 1_048_576),
  /** BERTH_SERVER_MAX_PIDS: the most processes a spec may ask for. */
  serverMaxPids: int(DEFAULT_MAX_LIMITS.pids, 8, 1_000_000),
  /** BERTH_SERVER_MAX_CPUS: the most CPU cores a spec may ask for. */
  serverMaxCpus: cpus(DEFAULT_MAX_LIMITS.cpus),
  /** BERTH_MAX_BODY_BYTES: largest MCP or API request body. */
  maxBodyBytes: int(16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  /** BERTH_SESSION_IDLE_S: forget MCP sessions idle this long. */
  sessionIdleS: int(1800, 1, 7 * 86_400),
  /** BERTH_MAX_SESSIONS: most MCP sessions per deployment. */
  maxSessions: int(1000, 1, 1_000_000),
  /** BERTH_REPLAY_EVENTS: SSE messages kept per MCP session for `Last-Event-ID` resumption (and for a GET stream not open yet). */
  replayEvents: int(128, 1, 100_000),
  /** BERTH_REPLAY_BYTES: the same log's cap in bytes of message JSON. */
  replayBytes: int(64 * 1024, 1024, 256 * 1024 * 1024),
  /** BERTH_REQUEST_TIMEOUT_S: a forwarded MCP request with no answer after this long gets a JSON-RPC error. */
  requestTimeoutS: int(300, 1, 86_400),
  /** BERTH_START_TIMEOUT_S: how long a server may take to start and answer tools/list. */
  startTimeoutS: int(120, 1, 3600),
  /** BERTH_STOP_GRACE_S: SIGTERM, then SIGKILL after this long. */
  stopGraceS: int(5, 0, 300),
  /** BERTH_DRAIN_S: after an update, how long the old revision may finish requests in flight (and keep isolated sessions) before it stops. */
  drainS: int(30, 0, 3600),
  /** BERTH_RETRY_MAX_S: a failed deployment is retried after 5 s, doubling up to this (and at every Berth start, and on berth restart). */
  retryMaxS: int(300, 5, 86_400),
  /** BERTH_RESYNC_S: every deployment is compared with what runs this often (0: only on changes). */
  resyncS: int(30, 0, 3600),
  /** BERTH_IDEMPOTENCY_TTL_S: how long POST /api/deployments remembers an Idempotency-Key. */
  idempotencyTtlS: int(86_400, 60, 30 * 86_400),
  /** BERTH_LEASE_RETRY_S: how often a standby Berth (another one holds this store's reconciler lease) tries to take the lease over. */
  leaseRetryS: int(5, 1, 3600),
  /**
   * BERTH_LEASE_STALE_S: a SQLite lock file whose holder has not refreshed it for this long is taken over even when the holder
   * cannot be checked (another host, a hung process); a PostgreSQL lease connection is checked every third of it.
   */
  leaseStaleS: int(30, 3, 3600),
  /** BERTH_DEFAULT_RUNTIME: where a deployment without spec.runtime runs: `process` (default) or `container`. */
  defaultRuntime: z.enum(['process', 'container']).default('process'),
  // ---- Containers and builds (README "Containers") ----
  /** BERTH_CONTAINER_SOCKET: the Docker Engine API socket (Docker's, or Podman's `podman system service`). Default: DOCKER_HOST's unix path, else /run/podman/podman.sock when present, else /var/run/docker.sock. */
  containerSocket: z.string().refine((p) => p.startsWith('/'), 'must be an absolute path to a unix socket').optional(),
  /** BERTH_CONTAINER_NETWORK: the engine network servers run on (created when missing; inter-container traffic off). */
  containerNetwork: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be a network name').default('berth-servers'),
  /** BERTH_BASE_IMAGE: the image generated Dockerfiles build FROM (it must have node and python3). */
  baseImage: z.string().min(1).default('localhost/berth/base:bookworm'),
  /** BERTH_REGISTRY: where built images are pushed (host[:port][/prefix]); unset: images stay in the engine. */
  registry: z.string().regex(/^[a-z0-9.-]+(:[0-9]+)?(\/[a-z0-9._/-]+)?$/, 'must be host[:port][/prefix]').optional(),
  /** BERTH_REGISTRY_INSECURE: `true` pushes over plain HTTP (a registry on loopback). */
  registryInsecure: z.enum(['true', 'false']).default('false'),
  /** BERTH_BUILD_CA_FILE: a CA certificate (PEM) builds trust, for a proxy that intercepts TLS; kept out of the final image. */
  buildCaFile: z.string().refine((p) => p.startsWith('/'), 'must be an absolute path').optional(),
  /** BERTH_BUILD_NPM_REGISTRY: the npm registry builds install from (a mirror). */
  buildNpmRegistry: z.url({ protocol: /^https?$/ }).optional(),
  /** BERTH_BUILD_PIP_INDEX_URL: the PyPI index builds install from (a mirror). */
  buildPipIndexUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** BERTH_BUILD_TIMEOUT_S: a build (install, compile, image) that takes longer fails. */
  buildTimeoutS: int(900, 10, 86_400),
  /**
   * BERTH_EMBEDDINGS_URL: an OpenAI-compatible API (`…/v1`, POST /embeddings) that groups' search_tools uses beside
   * BM25 (the two rankings fused); unset: BM25 only. Vectors are kept in Berth's store, one per model and text.
   */
  embeddingsUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** BERTH_EMBEDDINGS_MODEL */
  embeddingsModel: z.string().min(1).max(200).default('text-embedding-3-small'),
  /** BERTH_EMBEDDINGS_KEY: its API key (sent as a bearer token; never logged). */
  embeddingsKey: z.string().min(1).optional(),
  /** BERTH_SOURCE_MAX_BYTES: largest upload (ZIP or packed folder) and largest unpacked source tree. */
  sourceMaxBytes: int(256 * 1024 * 1024, 1024, 16 * 1024 * 1024 * 1024),
  /**
   * BERTH_SOURCE_KEEP_UNUSED_S: a stored source tree no revision of a live deployment names is removed once it was
   * last uploaded this long ago (an upload waiting to be deployed keeps that long). Checked hourly.
   */
  sourceKeepUnusedS: int(86_400, 60, 365 * 86_400),
  /** BERTH_GIT_TIMEOUT_S: a git fetch (all its git commands together) that takes longer is stopped (GIT_FETCH_FAILED). */
  gitTimeoutS: int(300, 5, 3600),
  /** BERTH_GIT_ALLOW_FILE: `true` lets git sources be file:// URLs or paths on the Berth host (local setups, tests). */
  gitAllowFile: z.enum(['true', 'false']).default('false'),
  // ---- Package cache (README "Packages"): package deployments are installed once, shared read-only ----
  /** BERTH_PACKAGE_INSTALL_TIMEOUT_S: an install (npm install, venv + pip install) that takes longer is killed and fails the start. */
  packageInstallTimeoutS: int(300, 5, 3600),
  /** BERTH_PACKAGE_INSTALL_SCRIPTS: `allow` lets a spec ask for install_scripts (npm lifecycle scripts, sdist builds), which run on the host outside the sandbox. Default deny. */
  packageInstallScripts: z.enum(['deny', 'allow']).default('deny'),
  /** BERTH_NPM_REGISTRY: the npm registry to install from. Default: npm's (https://registry.npmjs.org). */
  npmRegistry: z.url({ protocol: /^https?$/ }).optional(),
  /** BERTH_NPM_FIND_LINKS: a folder of `npm pack` tarballs looked in before the registry (hosts without the registry). */
  npmFindLinks: z.string().refine((p) => p.startsWith('/'), 'must be an absolute path').optional(),
  /** BERTH_PYPI_INDEX_URL: the simple index pip installs from. Default: pip's (https://pypi.org/simple). */
  pypiIndexUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** BERTH_PYPI_FIND_LINKS: a folder of wheels; without BERTH_PYPI_INDEX_URL it is the only source (pip --no-index). */
  pypiFindLinks: z.string().refine((p) => p.startsWith('/'), 'must be an absolute path').optional(),
  /** BERTH_PYTHON: the interpreter PyPI packages get their venv from. */
  python: z.string().min(1).default('python3'),
  /** BERTH_LOG_LEVEL */
  logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /**
   * BERTH_MASTER_KEY: the key that encrypts secrets, 32 bytes as base64 or 64 hex digits (`openssl rand -base64 32`).
   * Unset: a key file is used (BERTH_MASTER_KEY_FILE), created at first start.
   */
  masterKey: z.string().optional(),
  /** BERTH_PREVIOUS_MASTER_KEY: the master key before a rotation; values it sealed are re-encrypted with BERTH_MASTER_KEY at start. */
  previousMasterKey: z.string().optional(),
  /** BERTH_MASTER_KEY_FILE: the key file when BERTH_MASTER_KEY is unset (default `<dataDir>/master.key`, mode 0600). */
  masterKeyFile: z.string().min(1).optional(),

  // ---- Abuse limits (README "Abuse limits"): timeouts, connection caps, bounded buffers, session caps, rate limits ----
  /** BERTH_HEADERS_TIMEOUT_S: a client has this long to send a request's headers (slow-header attacks); at most BERTH_BODY_TIMEOUT_S. */
  headersTimeoutS: int(20, 1, 3600),
  /** BERTH_BODY_TIMEOUT_S: a client has this long to send a whole request, headers and body (slow-body attacks); 408 after. */
  bodyTimeoutS: int(120, 1, 86_400),
  /** BERTH_IDLE_TIMEOUT_S: a connection on which nothing moves for this long is closed, unless Berth is the one still working on its answer. Above the 25 s SSE keepalive. */
  idleTimeoutS: int(60, 30, 86_400),
  /** BERTH_MAX_CONNECTIONS: client connections open at once; more are closed at once. Default 8192, or 3/4 of the open-file limit when that is lower. */
  maxConnections: z.coerce.number().int().min(16).max(1_000_000).optional(),
  /** BERTH_MAX_CONNECTIONS_PER_ADDRESS: the same per client address (an IPv6 client: per /64). Behind a reverse proxy every client has its address. */
  maxConnectionsPerAddress: int(4096, 1, 1_000_000),
  /** BERTH_CLIENT_BUFFER_BYTES: a client that falls this many bytes behind (unread data Berth holds for it) is cut off. One message of any size is always let through. */
  clientBufferBytes: int(8 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
  /** BERTH_CLIENT_DRAIN_TIMEOUT_S: a client that has not taken what Berth holds for it after this long is cut off. */
  clientDrainTimeoutS: int(30, 1, 3600),
  /** BERTH_OUTBOUND_BUDGET_BYTES: unread data held for all clients together; above it Berth stops reading servers' stdout and cuts off clients that make no progress. */
  outboundBudgetBytes: int(256 * 1024 * 1024, 1024 * 1024, 64 * 1024 ** 3),
  /** BERTH_BODY_BUDGET_BYTES: request bodies being read, all connections together; 503 SERVER_BUSY above it. At least BERTH_MAX_BODY_BYTES. */
  bodyBudgetBytes: int(32 * 1024 * 1024, 1024, 64 * 1024 ** 3),
  /** BERTH_STDIN_BUFFER_BYTES: bytes waiting for one server to read its stdin; above it requests get UPSTREAM_BUSY. One message of any size is always let through. */
  stdinBufferBytes: int(4 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024),
  /** BERTH_MAX_SESSIONS_PER_TOKEN: MCP sessions one token may hold on a deployment (at its cap its own least recently used idle session goes). Default: no cap of its own (BERTH_MAX_SESSIONS). */
  maxSessionsPerToken: z.coerce.number().int().min(1).max(1_000_000).optional(),
  /** BERTH_MAX_SESSIONS_PER_ADDRESS: the same per client address (IPv6: per /64). Default: no cap of its own (BERTH_MAX_SESSIONS). */
  maxSessionsPerAddress: z.coerce.number().int().min(1).max(1_000_000).optional(),
  /** BERTH_SESSION_EVICT_AFTER_S: a session idle at least this long may be evicted to admit a new one at a session cap (a client pausing between calls keeps its session). */
  sessionEvictAfterS: int(30, 0, 86_400),
  /** BERTH_RATE_PER_TOKEN: requests per second one token may make, sustained (MCP and API counted apart); 0 turns the limit off. */
  ratePerToken: int(10_000, 0, 10_000_000),
  /** BERTH_BURST_PER_TOKEN: requests a token may make at once above that rate. */
  burstPerToken: int(20_000, 1, 100_000_000),
  /** BERTH_RATE_PER_DEPLOYMENT: MCP requests per second one deployment takes, from all clients together; 0 turns the limit off. */
  ratePerDeployment: int(20_000, 0, 10_000_000),
  /** BERTH_BURST_PER_DEPLOYMENT */
  burstPerDeployment: int(40_000, 1, 100_000_000),
});
export type Config = z.infer<typeof ConfigSchema> & { databaseUrl: string; publicUrl: string; masterKeyFile: string; containerSocket: string };

const ENV_KEYS: Record<keyof z.infer<typeof ConfigSchema>, string> = {
  host: 'BERTH_HOST',
  port: 'BERTH_PORT',
  dataDir: 'BERTH_DATA_DIR',
  databaseUrl: 'BERTH_DATABASE_URL',
  publicUrl: 'BERTH_PUBLIC_URL',
  baseDomain: 'BERTH_BASE_DOMAIN',
  allowedHosts: 'BERTH_ALLOWED_HOSTS',
  allowedOrigins: 'BERTH_ALLOWED_ORIGINS',
  trustedProxies: 'BERTH_TRUSTED_PROXIES',
  remoteAllow: 'BERTH_REMOTE_ALLOW',
  apiToken: 'BERTH_API_TOKEN',
  runtime: 'BERTH_RUNTIME',
  sandbox: 'BERTH_SANDBOX',
  sandboxHostNetwork: 'BERTH_SANDBOX_HOST_NETWORK',
  mountRoots: 'BERTH_MOUNT_ROOTS',
  limits: 'BERTH_LIMITS',
  serverMemoryMb: 'BERTH_SERVER_MEMORY_MB',
  serverPids: 'BERTH_SERVER_PIDS',
  serverCpus: 'BERTH_SERVER_CPUS',
  serverMaxMemoryMb: 'BERTH_SERVER_MAX_MEMORY_MB',
  serverMaxPids: 'BERTH_SERVER_MAX_PIDS',
  serverMaxCpus: 'BERTH_SERVER_MAX_CPUS',
  maxBodyBytes: 'BERTH_MAX_BODY_BYTES',
  sessionIdleS: 'BERTH_SESSION_IDLE_S',
  maxSessions: 'BERTH_MAX_SESSIONS',
  replayEvents: 'BERTH_REPLAY_EVENTS',
  replayBytes: 'BERTH_REPLAY_BYTES',
  requestTimeoutS: 'BERTH_REQUEST_TIMEOUT_S',
  startTimeoutS: 'BERTH_START_TIMEOUT_S',
  stopGraceS: 'BERTH_STOP_GRACE_S',
  drainS: 'BERTH_DRAIN_S',
  retryMaxS: 'BERTH_RETRY_MAX_S',
  resyncS: 'BERTH_RESYNC_S',
  idempotencyTtlS: 'BERTH_IDEMPOTENCY_TTL_S',
  leaseRetryS: 'BERTH_LEASE_RETRY_S',
  leaseStaleS: 'BERTH_LEASE_STALE_S',
  defaultRuntime: 'BERTH_DEFAULT_RUNTIME',
  containerSocket: 'BERTH_CONTAINER_SOCKET',
  containerNetwork: 'BERTH_CONTAINER_NETWORK',
  baseImage: 'BERTH_BASE_IMAGE',
  registry: 'BERTH_REGISTRY',
  registryInsecure: 'BERTH_REGISTRY_INSECURE',
  buildCaFile: 'BERTH_BUILD_CA_FILE',
  buildNpmRegistry: 'BERTH_BUILD_NPM_REGISTRY',
  buildPipIndexUrl: 'BERTH_BUILD_PIP_INDEX_URL',
  buildTimeoutS: 'BERTH_BUILD_TIMEOUT_S',
  embeddingsUrl: 'BERTH_EMBEDDINGS_URL',
  embeddingsModel: 'BERTH_EMBEDDINGS_MODEL',
  embeddingsKey: 'BERTH_EMBEDDINGS_KEY',
  sourceMaxBytes: 'BERTH_SOURCE_MAX_BYTES',
  sourceKeepUnusedS: 'BERTH_SOURCE_KEEP_UNUSED_S',
  gitTimeoutS: 'BERTH_GIT_TIMEOUT_S',
  gitAllowFile: 'BERTH_GIT_ALLOW_FILE',
  packageInstallTimeoutS: 'BERTH_PACKAGE_INSTALL_TIMEOUT_S',
  packageInstallScripts: 'BERTH_PACKAGE_INSTALL_SCRIPTS',
  npmRegistry: 'BERTH_NPM_REGISTRY',
  npmFindLinks: 'BERTH_NPM_FIND_LINKS',
  pypiIndexUrl: 'BERTH_PYPI_INDEX_URL',
  pypiFindLinks: 'BERTH_PYPI_FIND_LINKS',
  python: 'BERTH_PYTHON',
  logLevel: 'BERTH_LOG_LEVEL',
  masterKey: 'BERTH_MASTER_KEY',
  previousMasterKey: 'BERTH_PREVIOUS_MASTER_KEY',
  masterKeyFile: 'BERTH_MASTER_KEY_FILE',
  headersTimeoutS: 'BERTH_HEADERS_TIMEOUT_S',
  bodyTimeoutS: 'BERTH_BODY_TIMEOUT_S',
  idleTimeoutS: 'BERTH_IDLE_TIMEOUT_S',
  maxConnections: 'BERTH_MAX_CONNECTIONS',
  maxConnectionsPerAddress: 'BERTH_MAX_CONNECTIONS_PER_ADDRESS',
  clientBufferBytes: 'BERTH_CLIENT_BUFFER_BYTES',
  clientDrainTimeoutS: 'BERTH_CLIENT_DRAIN_TIMEOUT_S',
  outboundBudgetBytes: 'BERTH_OUTBOUND_BUDGET_BYTES',
  bodyBudgetBytes: 'BERTH_BODY_BUDGET_BYTES',
  stdinBufferBytes: 'BERTH_STDIN_BUFFER_BYTES',
  maxSessionsPerToken: 'BERTH_MAX_SESSIONS_PER_TOKEN',
  maxSessionsPerAddress: 'BERTH_MAX_SESSIONS_PER_ADDRESS',
  sessionEvictAfterS: 'BERTH_SESSION_EVICT_AFTER_S',
  ratePerToken: 'BERTH_RATE_PER_TOKEN',
  burstPerToken: 'BERTH_BURST_PER_TOKEN',
  ratePerDeployment: 'BERTH_RATE_PER_DEPLOYMENT',
  burstPerDeployment: 'BERTH_BURST_PER_DEPLOYMENT',
};

/** Read and check the configuration. The only place Berth reads process.env. Throws CONFIG_INVALID naming each bad variable. */
/** BERTH_CONTAINER_SOCKET's default: DOCKER_HOST's unix path, else Podman's socket when present, else Docker's. */
export function defaultContainerSocket(dockerHost: string | undefined, exists: (p: string) => boolean = existsSync): string {
  if (dockerHost?.startsWith('unix://')) return dockerHost.slice('unix://'.length);
  for (const p of ['/run/podman/podman.sock', '/run/berth-podman/podman.sock']) if (exists(p)) return p;
  return '/var/run/docker.sock';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Record<keyof typeof ENV_KEYS, unknown>> = {}): Config {
  const raw: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  Object.assign(raw, overrides);
  const parsed = ConfigSchema.safeParse(raw);
  // A list setting's issue names an element (`remoteAllow.2`, `mountRoots.0`): report the variable.
  const issues = parsed.success ? crossFieldIssues(parsed.data) : issuesOf(parsed.error).map((i) => ({ ...i, field: ENV_KEYS[i.field.split('.')[0] as keyof typeof ENV_KEYS] ?? i.field }));
  if (!parsed.success || issues.length > 0) {
    throw new BerthError('CONFIG_INVALID', `Invalid configuration: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`, { issues });
  }
  const c = parsed.data;
  const dataDir = resolve(c.dataDir);
  const shownHost = c.host === '0.0.0.0' || c.host === '::' ? '127.0.0.1' : c.host;
  return {
    ...c,
    dataDir,
    databaseUrl: c.databaseUrl ?? `sqlite:${resolve(dataDir, 'berth.db')}`,
    masterKeyFile: c.masterKeyFile === undefined ? resolve(dataDir, 'master.key') : resolve(c.masterKeyFile),
    containerSocket: c.containerSocket ?? defaultContainerSocket(env.DOCKER_HOST),
    publicUrl: (c.publicUrl ?? `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${c.port}`).replace(/\/+$/, ''),
  };
}

/** Settings that are only valid together. */
function crossFieldIssues(c: z.infer<typeof ConfigSchema>): { field: string; message: string }[] {
  const issues: { field: string; message: string }[] = [];
  if (c.masterKey !== undefined && c.masterKeyFile !== undefined) issues.push({ field: ENV_KEYS.masterKeyFile, message: 'set BERTH_MASTER_KEY or BERTH_MASTER_KEY_FILE, not both' });
  for (const [d, m] of [
    ['serverMemoryMb', 'serverMaxMemoryMb'],
    ['serverPids', 'serverMaxPids'],
    ['serverCpus', 'serverMaxCpus'],
  ] as const) {
    if (c[d] > c[m]) issues.push({ field: ENV_KEYS[d], message: `${c[d]} is above ${ENV_KEYS[m]} (${c[m]})` });
  }
  if (c.headersTimeoutS > c.bodyTimeoutS) issues.push({ field: ENV_KEYS.headersTimeoutS, message: `must not exceed BERTH_BODY_TIMEOUT_S (${c.bodyTimeoutS})` });
  if (c.bodyBudgetBytes < c.maxBodyBytes) issues.push({ field: ENV_KEYS.bodyBudgetBytes, message: `must be at least BERTH_MAX_BODY_BYTES (${c.maxBodyBytes}), or the largest body could never be read` });
  return issues;
}

/** Parse BERTH_DATABASE_URL into a store config. */
export function databaseTarget(url: string): { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string } {
  if (url.startsWith('sqlite:')) return { kind: 'sqlite', path: resolve(url.slice('sqlite:'.length)) };
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  throw new BerthError('CONFIG_INVALID', `BERTH_DATABASE_URL must start with sqlite: or postgres://, got ${url.split(':')[0]}:…`);
}
