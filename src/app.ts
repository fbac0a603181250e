import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Api } from './api/api.js';
import { sendError } from './api/http.js';
import type { RouteInfo } from './api/router.js';
import { databaseTarget, type Config } from './config/config.js';
import { AuditLog } from './control/audit.js';
import { DeferredEndpoint } from './control/deferred-endpoint.js';
import { DeploymentService } from './control/deployments.js';
import { launchEnv } from './control/env.js';
import { launchPolicy } from './control/launch-policy.js';
import { Reconciler, type EndpointFactory, type ManagedEndpoint } from './control/reconciler.js';
import { redactingBus, redactingStore } from './control/redacting.js';
import { RequestCounter } from './control/request-counter.js';
import { SecretsService } from './control/secrets.js';
import { TokenService, type CreatedToken } from './control/tokens.js';
import { BerthError } from './core/errors.js';
import type { Need, Principal } from './core/index.js';
import { MemoryEventBus } from './events/memory-bus.js';
import type { EventBus } from './events/types.js';
import { sendError as sendJsonRpcError } from './mcp/http.js';
import { AuthGuard } from './gateway/auth.js';
import { Edge, edgeOptions } from './gateway/edge.js';
import { Gateway } from './gateway/gateway.js';
import { clientIdentity } from './gateway/identity.js';
import { defaultAllowedHosts, defaultAllowedOrigins, HostGuard } from './gateway/host-guard.js';
import { createIsolatedBridge } from './mcp/isolated.js';
import { AutoEndpoint } from './mcp/remote/auto-endpoint.js';
import { RemoteAddressPolicy } from './mcp/remote/ssrf.js';
import { createSharedBridge } from './mcp/shared.js';
import type { BridgeOptions, ClientIdentity } from './mcp/types.js';
import { ProcessRuntime } from './runtime/process/index.js';
import type { Runtime } from './runtime/types.js';
import { EncryptedSecretStore } from './secrets/encrypted-store.js';
import { protectDataFiles } from './secrets/file-modes.js';
import { MasterKeys } from './secrets/master-key.js';
import { MemorySecretRows } from './secrets/memory-rows.js';
import { Redactor } from './secrets/redactor.js';
import { SqlSecretRows } from './secrets/sql-rows.js';
import { settleSecrets } from './secrets/startup.js';
import type { SecretStore } from './secrets/types.js';
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
  runtime?: Runtime;
  /** Secret values; by default encrypted in the stores' database (in memory when `stores` is given). */
  secrets?: SecretStore;
  healthTickMs?: number;
}

export interface App {
  config: Config;
  server: Server;
  reconciler: Reconciler;
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

/** The process runtime as the config describes it; what no server may see is Berth's own data. */
function createRuntime(config: Config, logs: LogStore, db: ReturnType<typeof databaseTarget>): ProcessRuntime {
  // Never to be mounted into a sandbox: the master key file and the SQLite database with its journal.
  const sqlite = db.kind === 'sqlite' ? [db.path, `${db.path}-wal`, `${db.path}-shm`] : [];
  const forbiddenPaths = [config.masterKeyFile, ...sqlite];
  return new ProcessRuntime({
    dataDir: config.dataDir,
    logs,
    sandbox: config.sandbox,
    stopGraceMs: config.stopGraceS * 1000,
    hostNetwork: config.sandboxHostNetwork,
    mountRoots: config.mountRoots,
    forbiddenPaths,
    limits: {
      mode: config.limits,
      defaults: { memoryMb: config.serverMemoryMb, pids: config.serverPids, cpus: config.serverCpus },
      max: { memoryMb: config.serverMaxMemoryMb, pids: config.serverMaxPids, cpus: config.serverMaxCpus },
    },
  });
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
  const runtime = overrides.runtime ?? createRuntime(config, logs, target);
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
  // Secret references are resolved at each start (a missing one fails that start), never stored resolved.
  const makeEndpoint: EndpointFactory = (d, events): ManagedEndpoint => new DeferredEndpoint(() => buildEndpoint(d, events));
  const buildEndpoint = async (d: Parameters<EndpointFactory>[0], events: Parameters<EndpointFactory>[1]): Promise<ManagedEndpoint> => {
    const spec = d.spec;
    if (spec.type === 'url') {
      const log = (line: string): void => logs.append(d.id, 'system', line);
      const headers = await resolveSecrets(d, 'spec.headers', spec.headers);
      return new AutoEndpoint({ deploymentId: d.id, endpoint: spec.endpoint, headers, guard: remoteAddresses, timeoutMs: spec.timeout_s * 1000, transport: spec.transport ?? 'auto', limits, restart: RESTART_POLICY, events, log, version: VERSION });
    }
    const env = await launchEnv(d, resolveSecrets);
    const opts: BridgeOptions = {
      deploymentId: d.id,
      spawn: (instanceKey) => runtime.launch({ deploymentId: d.id, instanceKey, command: spec.command, args: spec.args, env, ...launchPolicy(spec) }),
      restart: RESTART_POLICY,
      limits,
      events,
      version: VERSION,
      log: (line) => logs.append(d.id, 'system', line),
      maxStdinBytes: config.stdinBufferBytes,
      pressure: edge.outbound,
      timing: { stopGraceMs: config.stopGraceS * 1000, handshakeTimeoutMs: config.startTimeoutS * 1000 },
    };
    if (spec.mode === 'isolated') {
      return createIsolatedBridge({ ...opts, isolated: { warm: spec.isolated.warm, max: Math.min(spec.isolated.max_sessions, config.maxSessions), maxWarm: spec.isolated.max_warm, prime: spec.isolated.prime } });
    }
    return createSharedBridge(opts);
  };

  const reconciler = new Reconciler({
    store,
    logs,
    bus,
    runtime,
    makeEndpoint,
    startTimeoutMs: config.startTimeoutS * 1000,
    stopGraceMs: config.stopGraceS * 1000,
    healthTickMs: overrides.healthTickMs,
    log: (msg, fields) => logger.warn(msg, fields),
  });
  const service = new DeploymentService({ store, logs, bus, reconciler, runtime, counter, secrets, publicUrl: config.publicUrl, checkRemote: (endpoint) => remoteAddresses.checkEndpoint(endpoint) });
  const guard = new HostGuard({
    allowedHosts: config.allowedHosts ?? defaultAllowedHosts(config.publicUrl, config.host, config.baseDomain),
    allowedOrigins: config.allowedOrigins ?? defaultAllowedOrigins(config.publicUrl),
    trustedProxies: config.trustedProxies,
  });
  const sourceOf = (req: IncomingMessage): string => guard.clientAddress(req);
  // Who a request is, for session caps and rate limits: its token (anonymous clients by address).
  const identify = (req: IncomingMessage, principal: Principal): ClientIdentity => clientIdentity(principal.id, sourceOf(req));
  const tokens = new TokenService({ tokens: stores.tokens, envToken: config.apiToken, log: (msg, fields) => logger.warn(msg, fields) });
  const audit = new AuditLog({ store: stores.audit, log: (msg, fields) => logger.error(msg, fields) });
  const auth = new AuthGuard({ tokens, audit, accessOf: (id) => service.accessOf(id), sourceOf });
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
  const api = new Api({ service, secrets, tokens, audit, auth: apiAuth, sourceOf, version: VERSION });
  const gateway = new Gateway({
    authorize: (req, id, route) => auth.invoke(req, id, route),
    endpointFor: (id) => reconciler.endpointFor(id),
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
    service,
    secrets,
    bootstrapToken,
    routes: () => [...api.routes(), ...gateway.routes()],
    async listen() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.port, config.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const port = (server.address() as AddressInfo).port;
      if (!started) {
        started = true;
        // Deployments come back in the background; /healthz answers meanwhile.
        reconciler.start().catch((err: unknown) => logger.error('reconciler failed to start', { error: String(err) }));
      }
      const host = config.host.includes(':') ? `[${config.host}]` : config.host;
      return { url: `http://${host}:${port}`, port };
    },
    async close() {
      server.closeIdleConnections?.();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await reconciler.shutdown();
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
