import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Api } from './api/api.js';
import { sendError } from './api/http.js';
import type { RouteInfo } from './api/router.js';
import { databaseTarget, type Config } from './config/config.js';
import { AuditLog } from './control/audit.js';
import { CatalogService } from './control/catalog.js';
import { DeploymentService } from './control/deployments.js';
import { Idempotency } from './control/idempotency.js';
import { RevisionService } from './control/revisions.js';
import { Leadership } from './control/leadership.js';
import { createEndpointFactory } from './control/endpoints.js';
import { createGitResolver, type TreeStore } from './control/git-source.js';
import { Reconciler } from './control/reconciler.js';
import { pinPackageSpec } from './control/package-launch.js';
import { createSandboxedBuild } from './control/sandboxed-build.js';
import { createSourceLaunch, type RevisionImages } from './control/source-launch.js';
import { pinSourceSpec, type GitResolver } from './control/source-pin.js';
import { SourceService } from './control/sources.js';
import { SourceGc, sourceDigestsInUse } from './control/source-gc.js';
import { detectSource } from './build/detect/index.js';
import { createSourceStore, type SourceStore } from './sources/index.js';
import { redactingBus, redactingStore } from './control/redacting.js';
import { RequestCounter } from './control/request-counter.js';
import { SecretsService } from './control/secrets.js';
import { TokenService, type CreatedToken } from './control/tokens.js';
import { BerthError } from './core/errors.js';
import type { Need, Principal, SourceSpec } from './core/index.js';
import { MemoryEventBus } from './events/memory-bus.js';
import type { EventBus } from './events/types.js';
import { sendError as sendJsonRpcError } from './mcp/wire/http.js';
import { AuthGuard } from './gateway/auth.js';
import { GroupHub, GroupService } from './control/groups.js';
import { GroupRelay } from './control/group-relay.js';
import { ToolEmbeddings } from './control/tool-embeddings.js';
import { Edge, edgeOptions } from './gateway/edge.js';
import { Gateway } from './gateway/gateway.js';
import { clientIdentity } from './gateway/identity.js';
import { defaultAllowedHosts, defaultAllowedOrigins, HostGuard } from './gateway/host-guard.js';
import { RemoteAddressPolicy } from './mcp/remote/ssrf.js';
import type { ClientIdentity } from './mcp/types.js';
import { bridgeProgram, LocalHttpRuntime } from './runtime/local-http/index.js';
import { ProcessRuntime, ProcessWorkloads } from './runtime/process/index.js';
import { ContainerRuntime, type ContainerRuntimeOptions } from './runtime/container/index.js';
import { RuntimeRouter } from './runtime/router.js';
import { Engine } from './runtime/container/engine.js';
import type { ImageBuildsDeps } from './control/image-builds.js';
import type { LaunchPolicy, WorkloadRuntime } from './runtime/types.js';
import { NpmDriver, PackageCache, PypiDriver, runTool } from './packages/index.js';
import { DEFAULT_PATH } from './runtime/process/sandbox.js';
import { Catalog } from './sources/catalog/index.js';
import { EncryptedSecretStore } from './secrets/encrypted-store.js';
import { protectDataFiles } from './secrets/file-modes.js';
import { MasterKeys } from './secrets/master-key.js';
import { MemorySecretRows } from './secrets/memory-rows.js';
import { Redactor } from './secrets/redactor.js';
import { SqlSecretRows } from './store/secret-rows.js';
import { settleSecrets } from './secrets/startup.js';
import type { SecretStore } from './secrets/types.js';
import { FileLease } from './store/lease/file-lease.js';
import { MemoryLease } from './store/lease/memory-lease.js';
import type { Lease } from './store/lease/types.js';
import { openStores } from './store/sql-store.js';
import type { Stores } from './store/types.js';
import { FileLogStore } from './telemetry/file-logs.js';
import { createLogger } from './telemetry/logger.js';
import type { LogStore } from './telemetry/logs.js';
import { VERSION } from './version.js';

/** Drivers a caller (a test, a future multi-node setup) may pass instead of the defaults. */
export interface AppOverrides {
  stores?: Stores;
  logs?: LogStore;
  bus?: EventBus;
  runtime?: WorkloadRuntime;
  /** Secret values; by default encrypted in the stores' database (in memory when `stores` is given). */
  secrets?: SecretStore;
  /** The reconciler lease; by default the store's (a lock file beside SQLite, an advisory lock in PostgreSQL; in memory when `stores` is given). */
  lease?: Lease;
  healthTickMs?: number;
  /** The package cache (default: under the data dir, npm and pypi drivers as the config says). */
  packages?: PackageCache;
  /** Fetches git sources into the source store (GITCAT's createGitResolver); absent: git sources are refused. */
  resolveGit?: GitResolver;
  /** Builds a source revision's image (container runtime); absent: source deployments run on the process runtime only. */
  images?: RevisionImages;
}

export interface App {
  config: Config;
  server: Server;
  reconciler: Reconciler;
  /** Leader (holds this store's reconciler lease, runs the servers) or standby (API only; MCP answers STANDBY). */
  leadership: Leadership;
  service: DeploymentService;
  secrets: SecretsService;
  /** The admin token made at this start because none could be used (a first start): to be shown once, then forgotten. */
  bootstrapToken: CreatedToken | null;
  /** Every route, API and MCP, with the credential it needs (the authorization matrix is generated from this). */
  routes(): RouteInfo[];
  listen(): Promise<{ url: string; port: number }>;
  close(): Promise<void>;
}

const RESTART_POLICY = { initialDelayMs: 500, maxDelayMs: 30_000, maxCrashes: 5, windowMs: 120_000 };

/** The workload runtime the config names (BERTH_RUNTIME); what no server may see is Berth's own data. */
/** The workload runtime, and the process launcher under it (source installs run in its sandbox). */
function createRuntime(config: Config, logs: LogStore, db: ReturnType<typeof databaseTarget>): { runtime: WorkloadRuntime; launcher: ProcessRuntime } {
  // Never to be mounted into a sandbox: the master key file and the SQLite database with its journal.
  const sqlite = db.kind === 'sqlite' ? [db.path, `${db.path}-wal`, `${db.path}-shm`, `${db.path}.lock`] : [];
  const forbiddenPaths = [config.masterKeyFile, ...sqlite];
  const common = {
    dataDir: config.dataDir,
    logs,
    sandbox: config.sandbox,
    stopGraceMs: config.stopGraceS * 1000,
    forbiddenPaths,
    // The package cache's entries and the source workspaces: the parts of the data dir a sandbox sees, read-only.
    internalRoots: [packageCacheEntries(config), workspacesRoot(config)],
    limits: {
      mode: config.limits,
      defaults: { memoryMb: config.serverMemoryMb, pids: config.serverPids, cpus: config.serverCpus },
      max: { memoryMb: config.serverMaxMemoryMb, pids: config.serverMaxPids, cpus: config.serverMaxCpus },
    },
  };
  if (config.runtime === 'local-http') {
    // The bridge program is this installation's own `berth bridge`, which the sandbox shows read-only; it listens on the host's loopback.
    const bridge = bridgeProgram(INSTALL_ROOT);
    const launcher = new ProcessRuntime({ ...common, hostNetwork: 'allow', mountRoots: [...config.mountRoots, ...bridge.mounts] });
    return { runtime: new LocalHttpRuntime({ launcher, dataDir: config.dataDir, logs, bridge, operatorMountRoots: config.mountRoots, readyTimeoutMs: config.startTimeoutS * 1000 }), launcher };
  }
  const launcher = new ProcessRuntime({ ...common, hostNetwork: config.sandboxHostNetwork, mountRoots: config.mountRoots });
  return { runtime: new ProcessWorkloads({ runtime: launcher, dataDir: config.dataDir, logs }), launcher };
}

/**
 * The runtime Berth runs workloads on: the process driver (BERTH_RUNTIME) and, made only when a deployment asks
 * for it (spec.runtime container, an image, BERTH_DEFAULT_RUNTIME=container), the container driver (README "Containers").
 */
function createRouter(config: Config, logs: LogStore, processRuntime: WorkloadRuntime, onExit: ContainerRuntimeOptions['onExit']): RuntimeRouter {
  return new RuntimeRouter({
    process: processRuntime,
    defaultRuntime: config.defaultRuntime,
    container: () =>
      new ContainerRuntime({
        socketPath: config.containerSocket,
        dataDir: config.dataDir,
        logs,
        // This Berth's containers (another Berth on the same engine has another data dir).
        owner: `b${createHash('sha256').update(config.dataDir).digest('hex').slice(0, 12)}`,
        network: config.containerNetwork,
        bridgeFile: join(INSTALL_ROOT, 'dist/berth.mjs'),
        defaultImage: config.baseImage,
        limits: {
          defaults: { memoryMb: config.serverMemoryMb, pids: config.serverPids, cpus: config.serverCpus },
          max: { memoryMb: config.serverMaxMemoryMb, pids: config.serverMaxPids, cpus: config.serverMaxCpus },
        },
        mountRoots: config.mountRoots,
        readyTimeoutMs: config.startTimeoutS * 1000,
        stopGraceMs: config.stopGraceS * 1000,
        // Containers outlive a Berth restart: the next Berth adopts them (ADR 0022).
        onShutdown: 'leave',
        restart: RESTART_POLICY,
        onExit,
      }),
  });
}

/** The store's reconciler lease (ADR 0019): a lock file beside SQLite, an advisory lock in PostgreSQL, in memory for given stores. */
async function openLease(config: Config, db: ReturnType<typeof databaseTarget>, storesGiven: boolean): Promise<Lease> {
  if (storesGiven) return new MemoryLease();
  if (db.kind === 'sqlite') return new FileLease({ path: `${db.path}.lock`, staleMs: config.leaseStaleS * 1000 });
  const { PgLease } = await import('./store/lease/pg-lease.js');
  return new PgLease({ url: db.url, checkMs: Math.max(1000, Math.floor((config.leaseStaleS * 1000) / 3)) });
}

/** The folder with bin/, dist/ and node_modules/ (this file is dist/app.js or src/app.ts). */
const INSTALL_ROOT = fileURLToPath(new URL('..', import.meta.url));

const packageCacheRoot = (config: Config): string => join(config.dataDir, 'packages');
const packageCacheEntries = (config: Config): string => join(packageCacheRoot(config), 'entries');
const workspacesRoot = (config: Config): string => join(config.dataDir, 'workspaces');

/** The source store (README "Deploy from source"): uploaded and fetched trees under `<dataDir>/sources`. */
export function createSources(config: Config): SourceStore {
  return createSourceStore({ dir: join(config.dataDir, 'sources'), maxBytes: config.sourceMaxBytes });
}

/** The shared package cache (README "Packages"): npm and pypi drivers, run with Berth's own HOME, never the user's. */
export function createPackageCache(config: Config): PackageCache {
  const root = packageCacheRoot(config);
  const env = { PATH: `${dirname(process.execPath)}:${DEFAULT_PATH}`, HOME: join(root, 'home'), LANG: 'C.UTF-8' };
  const npm = new NpmDriver({ cacheDir: join(root, 'npm-cache'), env, run: runTool, ...(config.npmRegistry ? { registry: config.npmRegistry } : {}), ...(config.npmFindLinks ? { findLinks: config.npmFindLinks } : {}) });
  const pypi = new PypiDriver({ cacheDir: join(root, 'pip-cache'), toolsDir: join(root, 'pip-tools'), env, run: runTool, python: config.python, ...(config.pypiIndexUrl ? { indexUrl: config.pypiIndexUrl } : {}), ...(config.pypiFindLinks ? { findLinks: config.pypiFindLinks } : {}) });
  return new PackageCache({ root, drivers: [npm, pypi], installTimeoutMs: config.packageInstallTimeoutS * 1000, allowInstallScripts: config.packageInstallScripts === 'allow' });
}

/**
 * Git sources (README "Git sources"): checkouts under <dataDir>/git, copied into the source store; a token comes
 * from its secret reference (global, or the deployment's own) when the fetch starts.
 */
export function createGitSources(config: Config, store: TreeStore, secrets: Pick<SecretsService, 'resolveRef'>): GitResolver {
  return createGitResolver({
    store,
    resolveToken: (ref, deploymentId) => secrets.resolveRef(ref, 'spec.source.token', deploymentId),
    workDir: join(config.dataDir, 'git'),
    timeoutMs: config.gitTimeoutS * 1000,
    allow: { file: config.gitAllowFile === 'true' },
  });
}

/**
 * Image builds for sources on the container runtime (README "Images and builds"): one image per revision on the
 * engine the container driver uses. dockerode and the builder load with the first build, not with Berth.
 */
function lazyImageBuilds(config: Config, store: ImageBuildsDeps['store']): RevisionImages {
  let made: Promise<RevisionImages> | null = null;
  const make = async (): Promise<RevisionImages> => {
    const engine = new Engine(config.containerSocket);
    await engine.ready();
    const { createImageBuilds, imageBuildsConfig } = await import('./control/image-builds.js');
    return createImageBuilds({ docker: engine.docker, store, ...imageBuildsConfig(config, join(INSTALL_ROOT, 'dist/berth.mjs')) });
  };
  return {
    imageFor: async (req, ctx) => {
      made ??= make();
      // An engine that did not answer is asked again by the next build.
      made.catch(() => {
        made = null;
      });
      return (await made).imageFor(req, ctx);
    },
  };
}

/** The composition root: the one place that picks concrete drivers and wires them together. */
export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const target = databaseTarget(config.databaseUrl);
  const logsDir = join(config.dataDir, 'logs');
  protectDataFiles({ dataDir: config.dataDir, sqlitePath: target.kind === 'sqlite' ? target.path : undefined, privateDirs: [logsDir, join(config.dataDir, 'run')] });
  // Every known secret value is masked in Berth's own log, the deployments' logs and status messages.
  const redactor = new Redactor();
  const redact = (text: string, id: string): string => redactor.redact(text, id);
  const logger = createLogger({ level: config.logLevel, write: (line) => void process.stderr.write(redactor.redact(line)) });
  const keys = MasterKeys.load({ masterKey: config.masterKey, previousMasterKey: config.previousMasterKey, keyFile: config.masterKeyFile });
  const sql = overrides.stores ? undefined : await openStores(target);
  const stores: Stores = overrides.stores ?? sql!;
  const secretStore = overrides.secrets ?? new EncryptedSecretStore(sql ? new SqlSecretRows(sql.db, target.kind) : new MemorySecretRows(), keys.cipher);
  try {
    const reencrypted = await settleSecrets(secretStore, keys);
    if (reencrypted > 0) logger.warn('secrets re-encrypted with the current master key', { count: reencrypted, key_id: keys.cipher.currentKeyId });
    redactor.addGlobal((await secretStore.values('global')).values());
  } catch (err) {
    await stores.close();
    throw err;
  }
  const store = redactingStore(stores.deployments, redact);
  const logs = overrides.logs ?? new FileLogStore({ dir: logsDir, redact });
  const bus = redactingBus(overrides.bus ?? new MemoryEventBus((err) => logger.error('event handler failed', { error: String(err) })), redact);
  // A container's exits (an OOM kill among them) reach the reconciler, which status asks for `last_exit`.
  const exitSink: { note?: ContainerRuntimeOptions['onExit'] } = {};
  const made = overrides.runtime ? null : createRuntime(config, logs, target);
  const router = made ? createRouter(config, logs, made.runtime, (id, revision, info) => exitSink.note?.(id, revision, info)) : null;
  const runtime = overrides.runtime ?? router!;
  const packages = overrides.packages ?? createPackageCache(config);
  for (const notice of runtime.notices()) logger.warn(`SANDBOX: ${notice}`);
  const counter = new RequestCounter(store, 1000, (err) => logger.warn('request count not saved', { error: String(err) }));
  // Timeouts, connection caps, bounded writes to clients, the body budget, rate limits (README "Abuse limits").
  const edge = new Edge(edgeOptions(config), { warn: (msg, fields) => logger.warn(msg, fields), deployment: (id, line) => logs.append(id, 'system', line) });

  const limits = {
    idleTimeoutMs: config.sessionIdleS * 1000,
    maxSessions: config.maxSessions,
    maxSessionsPerPrincipal: config.maxSessionsPerToken,
    maxSessionsPerAddress: config.maxSessionsPerAddress,
    evictIdleAfterMs: config.sessionEvictAfterS * 1000,
    requestTimeoutMs: config.requestTimeoutS * 1000,
    replay: { maxEvents: config.replayEvents, maxBytes: config.replayBytes },
  };
  // The SSRF guard: every connection a url deployment makes is checked against it (BERTH_REMOTE_ALLOW).
  const remoteAddresses = new RemoteAddressPolicy(config.remoteAllow);
  const secrets = new SecretsService({ secrets: secretStore, keys, redactor, deployments: store });
  const resolveSecrets = secrets.resolve.bind(secrets);
  // ---- Sources (README "Deploy from source"): the store, deploy-time pinning, workspaces of the process runtime ----
  const sources = createSources(config);
  // A stored tree no live deployment's revision names goes after BERTH_SOURCE_KEEP_UNUSED_S (checked hourly).
  const sourceGc = new SourceGc({
    sources,
    referenced: () => sourceDigestsInUse(stores.deployments),
    keepUnusedMs: config.sourceKeepUnusedS * 1000,
    log: (line) => logger.info(line),
  });
  const buildHome = join(config.dataDir, 'build');
  const npmRegistry = config.buildNpmRegistry ?? config.npmRegistry;
  const pipIndex = config.buildPipIndexUrl ?? config.pypiIndexUrl;
  // Installs get no secret of Berth's and none of the deployment's: a path, the mirrors, quiet npm.
  const installEnv = {
    PATH: `${dirname(process.execPath)}:${DEFAULT_PATH}`,
    LANG: 'C.UTF-8',
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    ...(npmRegistry ? { npm_config_registry: npmRegistry } : {}),
    ...(pipIndex ? { PIP_INDEX_URL: pipIndex } : {}),
  };
  // In the sandbox (ADR 0023): the deployment's network and limits, only the workspace writable; HOME (and so npm's
  // and pip's caches) is the runtime's per-deployment one. Without a sandbox: plain children, HOME and caches in <dataDir>/build.
  const sandboxedLauncher = made && made.launcher.sandbox === 'bubblewrap' ? made.launcher : null;
  const sourceLaunch = createSourceLaunch({
    store: sources,
    detect: detectSource,
    workspaces: workspacesRoot(config),
    ...(sandboxedLauncher ? { build: createSandboxedBuild({ launcher: sandboxedLauncher, env: installEnv }) } : {}),
    noSandboxReason: made ? (config.sandbox === 'none' ? 'BERTH_SANDBOX=none' : 'bubblewrap is not installed') : 'this Berth was given its runtime',
    run: runTool,
    buildTimeoutMs: config.buildTimeoutS * 1000,
    env: { ...installEnv, HOME: join(buildHome, 'home'), npm_config_cache: join(buildHome, 'npm-cache'), PIP_CACHE_DIR: join(buildHome, 'pip-cache') },
    python: config.python,
    defaultRuntime: config.defaultRuntime,
    images: overrides.images ?? lazyImageBuilds(config, stores.deployments),
  });
  // Git sources (README "Git sources"): fetched into the store at deploy, the commit pinned in the revision.
  const resolveGit = overrides.resolveGit ?? createGitSources(config, sources, secrets);
  const pinSource = async (spec: SourceSpec, ctx: { deploymentId: string; log(line: string): void }): Promise<SourceSpec> =>
    (await pinSourceSpec(spec, { store: sources, detect: detectSource, resolveGit }, ctx)).spec;
  // ---- end of sources ----
  const makeEndpoint = createEndpointFactory({
    runtime,
    log: (id, line) => logs.append(id, 'system', line),
    resolveSecrets,
    remoteGuard: remoteAddresses,
    limits,
    restart: RESTART_POLICY,
    version: VERSION,
    maxStdinBytes: config.stdinBufferBytes,
    pressure: edge.outbound,
    timing: { stopGraceMs: config.stopGraceS * 1000, handshakeTimeoutMs: config.startTimeoutS * 1000 },
    maxSessions: config.maxSessions,
    packages,
    progress: (id, message) => void store.update(id, { status_message: message }).catch(() => {}),
    prepare: sourceLaunch.prepare,
    defaultRuntime: config.defaultRuntime,
  });

  const reconciler = new Reconciler({
    store,
    logs,
    bus,
    runtime,
    makeEndpoint,
    cleanup: async (id, opts) => {
      await runtime.remove(id, { ...opts, graceMs: config.stopGraceS * 1000 });
      await sourceLaunch.removeWorkspaces(id);
    },
    startTimeoutMs: config.startTimeoutS * 1000,
    stopGraceMs: config.stopGraceS * 1000,
    drainMs: config.drainS * 1000,
    retry: { initialMs: 5_000, maxMs: config.retryMaxS * 1000 },
    resyncMs: config.resyncS * 1000,
    healthTickMs: overrides.healthTickMs,
    log: (msg, fields) => logger.warn(msg, fields),
  });
  exitSink.note = (id, revision, info) => reconciler.noteExit(id, { pid: info.pid, instanceKey: `container r${revision}`, exit: info });
  // ---- Reconciler lease (ADR 0019): only the Berth holding it reconciles this store; the others are standbys. ----
  // A standby writes desired state through the API but runs no reconcile pass (the leader's store reads pick it up)
  // and answers MCP requests with STANDBY, naming the leader.
  const leadership = new Leadership({ lease: overrides.lease ?? (await openLease(config, target, overrides.stores !== undefined)), reconciler, retryMs: config.leaseRetryS * 1000, log: logger });
  const leading = {
    reconcile: (id: string): Promise<void> => (leadership.standby ? Promise.resolve() : reconciler.reconcile(id)),
    stats: (id: string) => reconciler.stats(id),
    lastExit: (id: string) => reconciler.lastExit(id),
    scaleView: (...args: Parameters<Reconciler['scaleView']>) => reconciler.scaleView(...args),
    retryNow: (id: string) => reconciler.retryNow(id),
    forgetOnDelete: (...args: Parameters<Reconciler['forgetOnDelete']>) => reconciler.forgetOnDelete(...args),
  };
  const endpointFor = (id: string) => (leadership.standby ? Promise.reject(leadership.standbyError()) : reconciler.endpointFor(id));
  // ---- end of the lease wiring ----
  const service = new DeploymentService({ store, logs, bus, reconciler: leading, runtime, counter, secrets, publicUrl: config.publicUrl, checkRemote: (endpoint) => remoteAddresses.checkEndpoint(endpoint), pinPackage: (spec) => pinPackageSpec(spec, packages), pinSource, defaultRuntime: config.defaultRuntime, workloadStats: (id) => runtime.stats(id), ...(router ? { runtimeReady: (policy: LaunchPolicy) => router.ready(policy.runtime) } : {}) });
  const guard = new HostGuard({
    allowedHosts: config.allowedHosts ?? defaultAllowedHosts(config.publicUrl, config.host, config.baseDomain),
    allowedOrigins: config.allowedOrigins ?? defaultAllowedOrigins(config.publicUrl),
    trustedProxies: config.trustedProxies,
  });
  const sourceOf = (req: IncomingMessage): string => guard.clientAddress(req);
  // Who a request is, for session caps and rate limits: its token (anonymous clients by address).
  // A group's relay credential acts for the group's client: its address is that client's, not loopback's.
  const identify = (req: IncomingMessage, principal: Principal): ClientIdentity => (principal.address === undefined ? clientIdentity(principal.id, sourceOf(req)) : { principal: principal.id, address: principal.address });
  const tokens = new TokenService({ tokens: stores.tokens, envToken: config.apiToken, log: (msg, fields) => logger.warn(msg, fields) });
  const audit = new AuditLog({ store: stores.audit, log: (msg, fields) => logger.error(msg, fields) });
  // Groups (README "Groups"): their sessions reach the members through this gateway with a relay credential.
  const groupService = new GroupService({ store: stores.groups, findDeployment: (ref) => service.find(ref), onChange: (name) => void groupHub.changed(name) });
  const relay = new GroupRelay(async (name) => (await stores.groups.getGroup(name))?.spec.members.map((m) => m.deployment));
  let listening: { port: number } | null = null;
  const groupHub = new GroupHub({
    groups: groupService,
    gatewayBase: () => {
      if (!listening) throw new BerthError('UPSTREAM_UNAVAILABLE', 'Berth is not listening yet');
      const loopback = config.host === '0.0.0.0' || config.host === '::' || config.host === 'localhost' || config.host.startsWith('127.') || config.host === '::1';
      const host = loopback ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host;
      return `http://${host}:${listening.port}`;
    },
    relay,
    limits,
    restart: RESTART_POLICY,
    version: VERSION,
    log: (name, line) => logger.info(line, { group: name }),
    ...(config.embeddingsUrl
      ? { embeddings: new ToolEmbeddings({ url: config.embeddingsUrl, model: config.embeddingsModel, ...(config.embeddingsKey ? { key: config.embeddingsKey } : {}), store: stores.embeddings, log: (line) => logger.warn(line) }) }
      : {}),
  });
  const verifier = { verify: async (token: string) => (await relay.verify(token)) ?? tokens.verify(token) };
  const accessOf = async (id: string) => (id.startsWith('group:') ? (await stores.groups.getGroup(id.slice('group:'.length)).catch(() => undefined))?.access : service.accessOf(id));
  const auth = new AuthGuard({ tokens: verifier, audit, accessOf, sourceOf });
  const bootstrapToken = await tokens.bootstrap();
  if (bootstrapToken) audit.record({ principal: { id: 'bootstrap', name: 'Berth start' }, action: 'token.create', target: bootstrapToken.id, result: 'ok', detail: { scopes: bootstrapToken.scopes, reason: 'no usable admin token' } });
  // API calls count against their token's rate (apart from its MCP calls, so a runaway agent cannot block `berth stop`).
  const apiAuth = {
    require: async (req: IncomingMessage, need: Need, route: string): Promise<Principal> => {
      const principal = await auth.require(req, need, route);
      if (need !== 'public') edge.rates.api.check(identify(req, principal).principal, 'this token');
      return principal;
    },
  };
  const revisions = new RevisionService({ deployments: service, store, bus, logs, secrets });
  const idempotency = new Idempotency({ store: stores.idempotency, ttlMs: config.idempotencyTtlS * 1000 });
  const sourceService = new SourceService({ store: sources, detect: detectSource, deployments: service, revisions });
  // The catalog (README "Catalog"): Berth's own templates, and the operator's in <dataDir>/catalog.
  const catalog = new CatalogService({
    catalog: new Catalog({ builtinDir: join(INSTALL_ROOT, 'catalog'), operatorDir: join(config.dataDir, 'catalog'), warn: (msg) => logger.warn(msg) }),
    deployments: service,
  });
  const api = new Api({ service, revisions, idempotency, secrets, tokens, audit, catalog, groups: { service: groupService, troubles: (name) => groupHub.troubles(name) }, auth: apiAuth, sourceOf, version: VERSION, role: () => leadership.role, sources: { service: sourceService, maxBytes: config.sourceMaxBytes } });
  const gateway = new Gateway({
    authorize: (req, id, route) => auth.invoke(req, id, route),
    endpointFor,
    groupEndpointFor: (name) => (leadership.standby ? Promise.reject(leadership.standbyError()) : groupHub.endpointFor(name)),
    onRequest: (id) => counter.hit(id),
    maxBodyBytes: config.maxBodyBytes,
    baseDomain: config.baseDomain,
    identify,
    rates: edge.rates,
    outbound: edge.outbound,
  });

  const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const host = guard.effectiveHost(req);
    const refused = guard.check(req, host);
    const route = gateway.match(host, path);
    if (route) {
      if (refused) sendJsonRpcError(res, refused);
      else void gateway.handle(req, res, route);
      return;
    }
    if (refused) {
      sendError(res, refused);
      return;
    }
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    if (api.matches(path)) {
      void api.handle(req, res, path, query);
      return;
    }
    sendError(res, new BerthError('NOT_FOUND', `No route ${req.method} ${path}`));
  };

  // Nothing a request carries may take Berth down: a synchronous throw becomes a 500 for that request.
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      dispatch(req, res);
    } catch (err) {
      logger.error('request handler failed', { error: String(err), url: req.url });
      sendError(res, err);
    }
  };

  const server = createServer(edge.serverOptions(), edge.handler(handler));
  edge.attach(server);

  let started = false;
  return {
    config,
    server,
    reconciler,
    leadership,
    service,
    secrets,
    bootstrapToken,
    routes: () => [...api.routes(), ...gateway.routes()],
    async listen() {
      if (!started) {
        started = true;
        // The first try for the reconciler lease, before the first request: /healthz then says the role it got
        // (answering `standby` while the try was still under way sent load balancers and tests the wrong way). As
        // leader, deployments come back in the background.
        await leadership.start();
        sourceGc.start(3_600_000);
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const port = (server.address() as AddressInfo).port;
      listening = { port };
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      return { url: `http://${host}:${port}`, port };
    },
    async close() {
      server.closeIdleConnections?.();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      leadership.close();
      sourceGc.stop();
      // Containers outlive a Berth restart: closing the endpoints now leaves them running (README "Containers").
      router?.detach();
      await groupHub.close();
      await reconciler.shutdown();
      await leadership.release();
      server.closeAllConnections?.();
      edge.close();
      await closed;
      await counter.flush();
      await audit.flush();
      await logs.close();
      await bus.close();
      await stores.close();
    },
  };
}
