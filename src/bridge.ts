/**
 * The bridge as its own program (`berth bridge --port P -- CMD ARGS`): seed 004's HTTP wrapper. It runs
 * one stdio MCP server as a plain child process and serves it on one port with the same bridges Berth
 * uses inside itself:
 *
 * - `POST|GET|DELETE /mcp`: Streamable HTTP, protocol revisions 2025-11-25 and 2026-07-28;
 * - `GET /sse` + `POST /message?sessionId=…`: the legacy HTTP+SSE transport;
 * - `GET /health`: 200 with JSON once the server answered initialize, 503 before and while it restarts.
 *
 * This is a composition root like app.ts (it picks the bridge and the launcher); it lives beside it
 * because the container and local-http drivers run it inside a workload, where there is no Berth.
 * With a token, every route but /health needs `Authorization: Bearer TOKEN`. Bodies are bounded one by
 * one and all together; only loopback Host names are accepted when it listens on loopback (a web page
 * cannot reach it by DNS rebinding).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BerthError, toBerthError } from './core/errors.js';
import { BodyBudget, readBody } from './core/http-body.js';
import { sendError, sendJson } from './mcp/wire/http.js';
import { createIsolatedBridge } from './mcp/bridge/isolated.js';
import { createSharedBridge } from './mcp/bridge/shared.js';
import type { BridgeOptions, McpEndpoint, RestartPolicy, SpawnProcess } from './mcp/types.js';
import { spawnPlain } from './runtime/process/plain.js';
import { VERSION } from './version.js';

export interface BridgeServerOptions {
  command: string;
  args: string[];
  /** The child's complete environment. */
  env: Record<string, string>;
  cwd?: string;
  /** Starts the server instead of `command` (a runtime's launcher, e.g. a process workload's stdio address). */
  spawn?: SpawnProcess;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** One process per client session instead of one shared process. */
  isolated?: { warm: number; max: number };
  /** When set, every route but /health needs `Authorization: Bearer TOKEN`. */
  token?: string;
  /** Largest request body (default 4 MiB); all bodies being read at once: 8 times that. */
  maxBodyBytes?: number;
  /** Most sessions at once (default 256). */
  maxSessions?: number;
  restart?: RestartPolicy;
  /** Lifecycle lines and the server's stderr. */
  log?: (line: string) => void;
}

export interface HealthView {
  status: 'ok' | 'starting' | 'restarting' | 'failed' | 'stopping';
  /** The server process answering (shared mode), null when none is up. */
  pid: number | null;
  mode: 'shared' | 'isolated';
  sessions: number;
  processes: number;
  in_flight: number;
}

export interface BridgeServer {
  readonly url: string;
  readonly port: number;
  health(): HealthView;
  /** Resolves with the reason when the server cannot be kept running (failed start, or the bridge gave up restarting). */
  readonly failed: Promise<string>;
  /** Ends sessions, stops the child, closes the port. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_RESTART: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, maxCrashes: 5, windowMs: 120_000 };
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Starts the child, serves it once it answered initialize; rejects when the port cannot be bound. */
export async function startBridgeServer(opts: BridgeServerOptions): Promise<BridgeServer> {
  const host = opts.host ?? '127.0.0.1';
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  if (!Number.isSafeInteger(maxBody) || maxBody < 1) throw new BerthError('VALIDATION_FAILED', `maxBodyBytes must be a positive integer, got ${String(opts.maxBodyBytes)}`);
  const log = opts.log ?? (() => {});
  const budget = new BodyBudget(maxBody * 8);
  const tokenHash = opts.token ? digest(opts.token) : null;
  const loopbackOnly = host === '127.0.0.1' || host === 'localhost' || host === '::1';
  const mode = opts.isolated ? 'isolated' : 'shared';

  let status: HealthView['status'] = 'starting';
  let pid: number | null = null;
  let reportFailure!: (why: string) => void;
  const failed = new Promise<string>((r) => (reportFailure = r));

  const bridgeOpts: BridgeOptions = {
    deploymentId: 'server',
    spawn: opts.spawn ?? (() => spawnPlain({ command: opts.command, args: opts.args, env: opts.env, cwd: opts.cwd, onStderr: (line) => log(`server: ${line}`) })),
    restart: opts.restart ?? DEFAULT_RESTART,
    limits: { idleTimeoutMs: 30 * 60_000, maxSessions: opts.maxSessions ?? 256, requestTimeoutMs: 5 * 60_000 },
    version: VERSION,
    log,
    events: {
      onProcessReady: (p) => {
        if (mode === 'shared') pid = p.pid;
        if (status !== 'stopping' && status !== 'failed') status = 'ok';
      },
      onProcessExit: (p) => {
        if (mode !== 'shared' || p.expected) return;
        pid = null;
        if (status === 'ok') status = 'restarting';
        log(`server process ${p.pid} exited (${p.exit.signal ?? `code ${p.exit.code}`}); restarting`);
      },
      onGaveUp: (reason) => {
        status = 'failed';
        reportFailure(reason);
      },
    },
  };
  const endpoint: McpEndpoint & { start(): Promise<void> } = opts.isolated ? createIsolatedBridge({ ...bridgeOpts, isolated: opts.isolated }) : createSharedBridge(bridgeOpts);

  const health = (): HealthView => {
    const s = endpoint.stats();
    return { status, pid, mode, sessions: s.sessions, processes: s.processes, in_flight: s.inFlight };
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    if (loopbackOnly && !LOOPBACK_HOSTS.has((req.headers.host ?? '').toLowerCase().replace(/:\d+$/, ''))) {
      throw new BerthError('FORBIDDEN_HOST', `Host ${JSON.stringify(req.headers.host ?? '')} is not served here: this bridge listens on loopback`);
    }
    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new BerthError('METHOD_NOT_ALLOWED', 'GET /health');
      const view = health();
      sendJson(res, view.status === 'ok' ? 200 : 503, JSON.stringify(view), { 'cache-control': 'no-store' });
      return;
    }
    const kind = path === '/mcp' || path === '/mcp/' ? 'mcp' : path === '/sse' ? 'sse' : path === '/message' ? 'message' : null;
    if (!kind) throw new BerthError('NOT_FOUND', `No route ${req.method ?? ''} ${path}: the MCP endpoint is /mcp (legacy HTTP+SSE: /sse)`);
    if (tokenHash && !bearerMatches(req.headers.authorization, tokenHash)) throw new BerthError('UNAUTHORIZED', 'This bridge needs Authorization: Bearer TOKEN (BERTH_BRIDGE_TOKEN)');
    // The token is for the bridge only: the server never sees it.
    delete req.headers.authorization;
    const body = req.method === 'POST' ? await readBody(req, maxBody) : Buffer.alloc(0);
    if (kind === 'mcp') return endpoint.handle(req, res, body);
    if (!endpoint.handleLegacy) throw new BerthError('NOT_FOUND', 'The legacy HTTP+SSE transport is not served');
    return endpoint.handleLegacy(req, res, body, kind, '');
  };

  const server: Server = createServer({ requestTimeout: 60_000, headersTimeout: 30_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    budget.attach(req);
    route(req, res).catch((err: unknown) => {
      const e = toBerthError(err);
      sendError(res, e, e.code === 'UNAUTHORIZED' ? { 'www-authenticate': 'Bearer' } : {});
    });
  });
  server.maxConnections = 1024;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    if (!closing) {
      status = 'stopping';
      closing = (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections?.();
        await endpoint.close().catch(() => {});
        server.closeAllConnections?.();
        await closed;
      })();
    }
    return closing;
  };

  // The port answers at once (/health says 503 until the handshake is done); a start that fails ends the bridge.
  endpoint.start().then(
    () => {
      if (status === 'starting') status = 'ok';
      log(`serving ${opts.command} ${opts.args.join(' ')} on http://${shownHost}:${port}/mcp (${mode})`);
    },
    (err: unknown) => {
      status = 'failed';
      reportFailure(`the server did not start: ${toBerthError(err).message}`);
    },
  );

  return { url: `http://${shownHost}:${port}`, port, health, failed, close };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1]!), expected);
}
