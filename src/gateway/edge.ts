import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestListener, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../config/config.js';
import { LogThrottle, andMore } from '../mcp/throttle.js';
import { BodyBudget } from '../core/http-body.js';
import { clientAddress } from './identity.js';
import { OutboundGuard, type CutInfo, type OutboundLimits } from './outbound.js';
import { RateLimiter, type RateLimit } from './rate-limit.js';

/** The limits of Berth's HTTP edge (README "Abuse limits"). */
export interface EdgeOptions {
  /** Time to send a request's headers. */
  headersTimeoutMs: number;
  /** Time to send a whole request (headers and body); 408 after. */
  bodyTimeoutMs: number;
  /** A connection on which nothing moves this long is closed, unless Berth is still working on its answer. */
  idleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  outbound: OutboundLimits;
  bodyBudgetBytes: number;
  rates: { token: RateLimit; deployment: RateLimit };
}

/** Where the edge says what it did: Berth's own log, and a deployment's log (`berth logs ID`). */
export interface EdgeLog {
  warn(msg: string, fields?: Record<string, unknown>): void;
  deployment(id: string, line: string): void;
}

/** The rate limiters the gateway and the API path use (MCP and API requests of a token are counted apart). */
export interface EdgeRates {
  token: RateLimiter;
  deployment: RateLimiter;
  api: RateLimiter;
}

/** Keep-alive connections stay open this long between requests (above common load balancers' 60 s). */
const KEEP_ALIVE_MS = 65_000;
/** A recurring refusal or cut is logged at most once per this long (per kind, per deployment). */
const LOG_EVERY_MS = 10_000;
const DEFAULT_MAX_CONNECTIONS = 8192;

/** The open-file limit of this process (Linux), or null when it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isSafeInteger(soft) && soft > 0 ? soft : null;
  } catch {
    return null;
  }
}

/** The edge's limits from the configuration; the connection cap defaults to 8192, or 3/4 of the open-file limit when lower. */
export function edgeOptions(config: Config, fdLimit: number | null = openFileLimit()): EdgeOptions {
  const byFiles = fdLimit === null ? DEFAULT_MAX_CONNECTIONS : Math.max(64, Math.floor((fdLimit * 3) / 4));
  return {
    headersTimeoutMs: config.headersTimeoutS * 1000,
    bodyTimeoutMs: config.bodyTimeoutS * 1000,
    idleTimeoutMs: config.idleTimeoutS * 1000,
    maxConnections: config.maxConnections ?? Math.min(DEFAULT_MAX_CONNECTIONS, byFiles),
    maxConnectionsPerAddress: config.maxConnectionsPerAddress,
    outbound: { maxPendingBytes: config.clientBufferBytes, drainTimeoutMs: config.clientDrainTimeoutS * 1000, budgetBytes: config.outboundBudgetBytes },
    bodyBudgetBytes: config.bodyBudgetBytes,
    rates: {
      token: { perSecond: config.ratePerToken, burst: config.burstPerToken },
      deployment: { perSecond: config.ratePerDeployment, burst: config.burstPerDeployment },
    },
  };
}

/**
 * Berth's HTTP edge: timeouts, connection caps, the bounded writer every response uses, the budget of
 * request bodies being read, and the rate limiters. Nothing here knows about MCP; the gateway and the
 * bridges get the pieces they need (rates, `outbound` as their OutboundPressure).
 */
export class Edge {
  readonly outbound: OutboundGuard;
  readonly bodies: BodyBudget;
  readonly rates: EdgeRates;
  private readonly perAddress = new Map<string, number>();
  private readonly quiet = new LogThrottle(LOG_EVERY_MS);

  constructor(
    readonly opts: EdgeOptions,
    private readonly log: EdgeLog,
  ) {
    this.outbound = new OutboundGuard(opts.outbound, (cut) => this.cutOff(cut));
    this.outbound.subscribe((high) => this.pressure(high));
    this.bodies = new BodyBudget(opts.bodyBudgetBytes);
    this.rates = { token: new RateLimiter(opts.rates.token), deployment: new RateLimiter(opts.rates.deployment), api: new RateLimiter(opts.rates.token) };
  }

  /** Options for `http.createServer`. */
  serverOptions(): ServerOptions {
    const { headersTimeoutMs, bodyTimeoutMs } = this.opts;
    return {
      ServerResponse: this.outbound.Response,
      keepAliveTimeout: KEEP_ALIVE_MS,
      headersTimeout: headersTimeoutMs,
      requestTimeout: bodyTimeoutMs,
      // How often node looks for requests past those two timeouts.
      connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(Math.min(headersTimeoutMs, bodyTimeoutMs) / 4))),
    };
  }

  /** Wraps the request handler: the response is the connection's current one, the body counts against the budget. */
  handler(inner: RequestListener): RequestListener {
    return (req: IncomingMessage, res: ServerResponse) => {
      this.outbound.opened(res, req.socket);
      this.bodies.attach(req);
      inner(req, res);
    };
  }

  /** Connection caps, the idle timeout and accept errors on `server` (made with serverOptions()). */
  attach(server: Server): void {
    server.maxConnections = this.opts.maxConnections;
    server.timeout = this.opts.idleTimeoutMs;
    server.on('connection', (socket: Socket) => this.admit(socket));
    server.on('drop', (data?: { remoteAddress?: string }) => this.refused(clientAddress(data?.remoteAddress), 'total', this.opts.maxConnections));
    server.on('timeout', (socket: Socket) => this.idle(socket));
    // Out of file descriptors (EMFILE on accept) and the like: Berth keeps serving the connections it has.
    server.on('error', (err: NodeJS.ErrnoException) => {
      const quiet = this.quiet.hit('server-error');
      if (quiet !== null) this.log.warn(`server error: ${err.message}${andMore(quiet)}`, { code: err.code });
    });
  }

  close(): void {
    this.outbound.close();
  }

  private admit(socket: Socket): void {
    const key = clientAddress(socket.remoteAddress);
    const n = (this.perAddress.get(key) ?? 0) + 1;
    if (n > this.opts.maxConnectionsPerAddress) {
      socket.destroy();
      this.refused(key, 'per-address', this.opts.maxConnectionsPerAddress);
      return;
    }
    this.perAddress.set(key, n);
    socket.once('close', () => {
      const left = (this.perAddress.get(key) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(key);
      else this.perAddress.set(key, left);
    });
  }

  private refused(address: string, cap: 'per-address' | 'total', limit: number): void {
    const quiet = this.quiet.hit(`refused-${cap}`);
    if (quiet === null) return;
    const which = cap === 'total' ? `Berth's cap of ${limit} open connections (BERTH_MAX_CONNECTIONS)` : `the cap of ${limit} connections per address (BERTH_MAX_CONNECTIONS_PER_ADDRESS)`;
    this.log.warn(`connection from ${address} closed at once: over ${which}${andMore(quiet)}`, { address, cap, limit });
  }

  /**
   * Nothing moved on a connection for idleTimeoutMs. It stays only when a response is in progress and the
   * client has taken all of it so far: Berth is still working on the answer (a request timeout bounds
   * that), or an event stream waits for news (keepalive comments go out every 25 s). Otherwise it is closed.
   */
  private idle(socket: Socket): void {
    if (this.outbound.responseOn(socket) && socket.writableLength === 0) return;
    socket.destroy();
  }

  private cutOff(cut: CutInfo): void {
    const why =
      cut.reason === 'buffer'
        ? `it fell more than ${this.opts.outbound.maxPendingBytes} bytes behind (BERTH_CLIENT_BUFFER_BYTES)`
        : cut.reason === 'drain'
          ? `it took nothing for ${this.opts.outbound.drainTimeoutMs / 1000} s (BERTH_CLIENT_DRAIN_TIMEOUT_S)`
          : `it made no progress while clients were more than ${this.opts.outbound.budgetBytes} bytes behind in total (BERTH_OUTBOUND_BUDGET_BYTES)`;
    const quiet = this.quiet.hit(`cut-${cut.deploymentId ?? ''}`);
    if (quiet === null) return;
    const line = `a slow client of ${cut.label} was cut off: ${why}; ${cut.pendingBytes} bytes unsent${andMore(quiet)}`;
    this.log.warn(line, { deployment: cut.deploymentId ?? undefined, reason: cut.reason });
    if (cut.deploymentId) this.log.deployment(cut.deploymentId, `gateway: ${line}`);
  }

  private pressure(high: boolean): void {
    const quiet = this.quiet.hit(`pressure-${high}`);
    if (quiet === null) return;
    const budget = this.opts.outbound.budgetBytes;
    if (high) this.log.warn(`clients are more than ${budget} bytes behind in total (BERTH_OUTBOUND_BUDGET_BYTES): servers' output is not read until they catch up or are cut off${andMore(quiet)}`);
    else this.log.warn(`clients caught up: servers' output is read again${andMore(quiet)}`);
  }
}
