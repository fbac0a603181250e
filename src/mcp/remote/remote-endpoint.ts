import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { BerthError } from '../../core/errors.js';
import type { EndpointStats, McpEndpoint } from '../types.js';
import { probeRemote } from './probe.js';
import { H1Pool } from './h1-pool.js';
import { ProxyExchange } from './proxy-exchange.js';

export interface RemoteEndpointOptions {
  /** The remote Streamable HTTP MCP endpoint. */
  endpoint: string;
  /** Added to every upstream request (e.g. Authorization). */
  headers: Record<string, string>;
  /** Longest wait for the upstream's response headers. */
  timeoutMs: number;
  /** Connections kept to the upstream. */
  connections?: number;
}

/** Request headers that belong to one hop, or that Berth sets itself. */
const HOP_HEADERS = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'expect']);
/** RFC 9110 token (header name) and field value without CR, LF or NUL, within latin1. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * A deployment of kind `url`: Berth routes to a remote Streamable HTTP server.
 * Requests and responses (including SSE streams) go through a lean keep-alive HTTP/1.1 pool (`H1Pool`):
 * the request head is serialised once and written with the body in one syscall, response bytes are
 * written on as they arrive (chunked bodies de-chunked and re-chunked by node), bodies untouched.
 */
export class RemoteEndpoint implements McpEndpoint {
  private readonly h1: H1Pool;
  private probePool: Pool | null = null;
  private readonly origin: string;
  private readonly path: string;
  /** `host` line plus the configured headers, serialised once. */
  private readonly fixedHead: string;
  /** Lower-cased names the configured headers replace. */
  private readonly replaced: Set<string>;
  private inFlight = 0;

  constructor(private readonly opts: RemoteEndpointOptions) {
    const url = new URL(opts.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BerthError('VALIDATION_FAILED', `Remote endpoint must be http or https, not ${url.protocol}`);
    this.origin = url.origin;
    this.path = `${url.pathname}${url.search}`;
    this.replaced = new Set(Object.keys(opts.headers).map((k) => k.toLowerCase()));
    let fixed = `host: ${url.host}\r\n`;
    for (const [k, v] of Object.entries(opts.headers)) {
      if (!TOKEN.test(k) || !FIELD_VALUE.test(v)) throw new BerthError('VALIDATION_FAILED', `Header ${JSON.stringify(k)} has a name or value that cannot be sent in HTTP/1.1`);
      if (!HOP_HEADERS.has(k.toLowerCase())) fixed += `${k}: ${v}\r\n`;
    }
    this.fixedHead = fixed;
    this.h1 = new H1Pool(url, { maxConnections: opts.connections ?? 128, idleMs: 30_000, headersTimeoutMs: opts.timeoutMs });
  }

  async start(): Promise<void> {}

  handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const method = req.method ?? 'GET';
    let head = `${method} ${this.path} HTTP/1.1\r\n${this.fixedHead}`;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (!HOP_HEADERS.has(lower) && !this.replaced.has(lower)) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
    }
    head += body.length > 0 || method === 'POST' || method === 'PUT' ? `content-length: ${body.length}\r\n\r\n` : '\r\n';
    this.inFlight++;
    return new Promise<void>((resolve, reject) => {
      const exchange = new ProxyExchange(res, () => {
        this.inFlight--;
        resolve();
      }, (err) => {
        this.inFlight--;
        reject(err);
      });
      exchange.request = this.h1.request(head, body.length > 0 ? body : null, exchange, method === 'HEAD');
    });
  }

  async probe(timeoutMs: number): Promise<{ tools: { name: string; title?: string; description?: string }[] }> {
    try {
      this.probePool ??= new Pool(this.origin, { connections: 2, keepAliveTimeout: 4_000 });
      return await probeRemote(this.probePool, this.path, this.opts.headers, AbortSignal.timeout(timeoutMs));
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new BerthError('UPSTREAM_UNAVAILABLE', `Remote MCP server probe failed: ${(err as Error).message}`);
    }
  }

  stats(): EndpointStats {
    return { sessions: 0, processes: 0, inFlight: this.inFlight };
  }

  async close(): Promise<void> {
    await this.h1.close();
    await this.probePool?.close().catch(() => {});
  }
}
