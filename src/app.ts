import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Api } from './api/api.js';
import { sendError, sendJson } from './api/http.js';
import { databaseTarget, type Config } from './config/config.js';
import { DeploymentService } from './control/deployments.js';
import { launchEnv } from './control/env.js';
import { Reconciler, type EndpointFactory, type ManagedEndpoint } from './control/reconciler.js';
import { RequestCounter } from './control/request-counter.js';
import { BerthError } from './core/errors.js';
import { MemoryEventBus } from './events/memory-bus.js';
import type { EventBus } from './events/types.js';
import { sendError as sendJsonRpcError } from './mcp/http.js';
import { Edge, edgeOptions } from './gateway/edge.js';
import { Gateway } from './gateway/gateway.js';
import { clientIdentity } from './gateway/identity.js';
import { retryAfterHeader } from './gateway/rate-limit.js';
import { defaultAllowedHosts, defaultAllowedOrigins, HostGuard } from './gateway/host-guard.js';
import { createIsolatedBridge } from './mcp/isolated.js';
import { AutoEndpoint } from './mcp/remote/auto-endpoint.js';
import { createSharedBridge } from './mcp/shared.js';
import type { BridgeOptions } from './mcp/types.js';
import { ProcessRuntime } from './runtime/process/index.js';
import type { Runtime } from './runtime/types.js';
import { openStore } from './store/sql-store.js';
import type { DeploymentStore } from './store/types.js';
import { FileLogStore } from './telemetry/file-logs.js';
import { createLogger } from './telemetry/logger.js';
import type { LogStore } from './telemetry/logs.js';
import { VERSION } from './version.js';

/** Drivers a caller (a test, a future multi-node setup) may pass instead of the defaults. */
export interface AppOverrides {
  store?: DeploymentStore;
  logs?: LogStore;
  bus?: EventBus;
  runtime?: Runtime;
  healthTickMs?: number;
}

export interface App {
  config: Config;
  server: Server;
  reconciler: Reconciler;
  service: DeploymentService;
  listen(): Promise<{ url: string; port: number }>;
  close(): Promise<void>;
}

const RESTART_POLICY = { initialDelayMs: 500, maxDelayMs: 30_000, maxCrashes: 5, windowMs: 120_000 };

/** The composition root: the one place that picks concrete drivers and wires them together. */
export async function createApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  mkdirSync(config.dataDir, { recursive: true });
  const logger = createLogger({ level: config.logLevel });
  const store = overrides.store ?? (await openStore(databaseTarget(config.databaseUrl)));
  const logs = overrides.logs ?? new FileLogStore({ dir: join(config.dataDir, 'logs') });
  const bus = overrides.bus ?? new MemoryEventBus((err) => logger.error('event handler failed', { error: String(err) }));
  const runtime = overrides.runtime ?? new ProcessRuntime({ dataDir: config.dataDir, logs, sandbox: config.sandbox, stopGraceMs: config.stopGraceS * 1000 });
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
  const makeEndpoint: EndpointFactory = (d, events): ManagedEndpoint => {
    const spec = d.spec;
    if (spec.type === 'url') {
      const log = (line: string): void => logs.append(d.id, 'system', line);
      return new AutoEndpoint({ deploymentId: d.id, endpoint: spec.endpoint, headers: spec.headers, timeoutMs: spec.timeout_s * 1000, transport: spec.transport ?? 'auto', limits, restart: RESTART_POLICY, events, log, version: VERSION });
    }
    const env = launchEnv(spec, d.env_schema);
    const opts: BridgeOptions = {
      deploymentId: d.id,
      spawn: (instanceKey) => runtime.launch({ deploymentId: d.id, instanceKey, command: spec.command, args: spec.args, env, cwd: spec.cwd }),
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
      return createIsolatedBridge({ ...opts, isolated: { warm: spec.isolated.warm, max: Math.min(spec.isolated.max_sessions, config.maxSessions), prime: spec.isolated.prime } });
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
  const service = new DeploymentService({ store, logs, bus, reconciler, counter, publicUrl: config.publicUrl });
  const api = new Api({ service, version: VERSION, apiToken: config.apiToken });
  const gateway = new Gateway({
    endpointFor: (id) => reconciler.endpointFor(id),
    onRequest: (id) => counter.hit(id),
    maxBodyBytes: config.maxBodyBytes,
    baseDomain: config.baseDomain,
    identify: clientIdentity,
    rates: edge.rates,
    outbound: edge.outbound,
  });

  const guard = new HostGuard({
    allowedHosts: config.allowedHosts ?? defaultAllowedHosts(config.publicUrl, config.host, config.baseDomain),
    allowedOrigins: config.allowedOrigins ?? defaultAllowedOrigins(config.publicUrl, config.baseDomain),
    trustedProxies: config.trustedProxies,
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
      const limited = path === '/healthz' ? null : edge.apiRefusal(clientIdentity(req).principal);
      if (limited) {
        for (const [k, v] of Object.entries(retryAfterHeader(limited))) res.setHeader(k, v);
        sendError(res, limited);
        return;
      }
      void api.handle(req, res, path, query);
      return;
    }
    if (path === '/' && req.method === 'GET') {
      sendJson(res, 200, { name: 'berth', version: VERSION, api: '/api/openapi.json', mcp: '/s/{id}/mcp' });
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
      await logs.close();
      await bus.close();
      await store.close();
    },
  };
}
