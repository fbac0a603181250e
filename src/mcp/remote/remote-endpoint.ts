import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { BerthError } from '../../core/errors.js';
import type { EndpointStats, McpEndpoint } from '../types.js';
import { probeRemote } from './probe.js';
import { forbiddenIn, type ConnectGuard } from './ssrf.js';
import { IDLE_MS } from './wire.js';

export interface RemoteEndpointOptions {
  /** The remote Streamable HTTP MCP endpoint. */
  endpoint: string;
  /** Added to every upstream request (e.g. Authorization). */
  headers: Record<string, string>;
  /** Longest wait for the upstream's response headers. */
  timeoutMs: number;
  /** Which addresses connections may go to (the SSRF guard). */
  guard: ConnectGuard;
  /**
   * Most connections to the upstream (default 128). An event stream holds one for its life; requests beyond
   * this wait, up to as many again, and further ones are refused (503) rather than queued without end.
   */
  connections?: number;
}

/**
 * Request headers that belong to one hop, that undici sets itself (host, content-length), or that carry the
 * client's credential for Berth (every route needs one): never the remote's business.
 */
const REQUEST_DROPPED = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'expect', 'authorization']);
/** Response headers that belong to one hop; node frames the client's response itself. */
const RESPONSE_DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'trailer', 'upgrade', 'proxy-authenticate']);
/** RFC 9110 token (header name) and field value without CR, LF or NUL, within latin1. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Largest response head accepted from a remote. */
export const MAX_HEAD_BYTES = 64 * 1024;

/** Header names a `Connection` header lists (they are hop-by-hop too, RFC 9110 §7.6.1). */
function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  const names = (Array.isArray(value) ? value.join(',') : value).split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
  return names.length ? new Set(names) : null;
}

/**
 * A deployment of kind `url`: Berth routes to a remote Streamable HTTP server. Requests and responses
 * (including SSE streams) go through an undici pool of keep-alive connections, one per deployment:
 * hop-by-hop headers dropped both ways, the body bytes untouched, the response streamed to the client
 * with back-pressure both ways. Nothing is sent twice: a request whose connection fails after it was
 * written fails (undici never retries a request it has written with pipelining 1, and no retry
 * interceptor is installed), and redirects are passed to the client, not followed.
 */
export class RemoteEndpoint implements McpEndpoint {
  private readonly pool: Pool;
  private readonly path: string;
  /** The configured headers, flat (`[name, value, …]`). */
  private readonly fixed: string[] = [];
  /** Lower-cased names the configured headers replace. */
  private readonly replaced: Set<string>;
  private inFlight = 0;
  private readonly maxInFlight: number;

  constructor(private readonly opts: RemoteEndpointOptions) {
    const url = new URL(opts.endpoint);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BerthError('VALIDATION_FAILED', `Remote endpoint must be http or https, not ${url.protocol}`);
    this.path = `${url.pathname}${url.search}`;
    this.replaced = new Set(Object.keys(opts.headers).map((k) => k.toLowerCase()));
    for (const [k, v] of Object.entries(opts.headers)) {
      if (!TOKEN.test(k) || !FIELD_VALUE.test(v)) throw new BerthError('VALIDATION_FAILED', `Header ${JSON.stringify(k)} has a name or value that cannot be sent in HTTP/1.1`);
      const lower = k.toLowerCase();
      if (lower === 'authorization' || !REQUEST_DROPPED.has(lower)) this.fixed.push(k, v);
    }
    const connections = opts.connections ?? 128;
    this.maxInFlight = 2 * connections;
    this.pool = new Pool(url.origin, {
      connections,
      pipelining: 1, // one request per connection at a time: a failed connection fails only its own request
      keepAliveTimeout: IDLE_MS,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: 0, // event streams may be quiet for long
      maxHeaderSize: MAX_HEAD_BYTES,
      connect: opts.guard.connector(),
    });
  }

  async start(): Promise<void> {}

  handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    if (this.inFlight >= this.maxInFlight) {
      return Promise.reject(new BerthError('UPSTREAM_UNAVAILABLE', `The remote MCP server has ${this.inFlight} requests in flight through Berth, the most allowed; try again later`));
    }
    const method = req.method ?? 'GET';
    const headers = this.fixed.slice();
    const hop = connectionTokens(req.headers.connection);
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (!REQUEST_DROPPED.has(lower) && !this.replaced.has(lower) && !hop?.has(lower)) headers.push(raw[i]!, raw[i + 1]!);
    }
    this.inFlight++;
    return new Promise<void>((resolve, reject) => {
      const handler = new ProxyHandler(
        res,
        () => {
          this.inFlight--;
          resolve();
        },
        (err) => {
          this.inFlight--;
          reject(err);
        },
      );
      this.pool.dispatch({ path: this.path, method: method as Dispatcher.HttpMethod, headers, body: body.length > 0 ? body : null }, handler);
    });
  }

  async probe(timeoutMs: number): Promise<{ tools: { name: string; title?: string; description?: string }[] }> {
    try {
      return await probeRemote(this.pool, this.path, this.opts.headers, AbortSignal.timeout(timeoutMs));
    } catch (err) {
      if (err instanceof BerthError) throw err;
      const forbidden = forbiddenIn(err);
      if (forbidden) throw new BerthError('REMOTE_ADDRESS_FORBIDDEN', `Remote MCP server probe refused: ${forbidden.message}`);
      throw new BerthError('UPSTREAM_UNAVAILABLE', `Remote MCP server probe failed: ${(err as Error).message}`);
    }
  }

  stats(): EndpointStats {
    return { sessions: 0, processes: 0, inFlight: this.inFlight };
  }

  async close(): Promise<void> {
    await this.pool.destroy().catch(() => {});
  }
}

/** Errors that mean the request never reached the remote. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'REMOTE_ADDRESS_FORBIDDEN']);

/**
 * Writes one upstream response onto the client's response as it arrives: status and headers (hop-by-hop
 * ones dropped), then the body, with back-pressure both ways. The head waits for the first body bytes
 * (an event stream's goes at once), so a response that fails before any of its body becomes a clear
 * Berth error; one that fails later cuts the client's connection (there is no way left to report it in
 * band). The client going away aborts the upstream request (its connection is closed).
 */
class ProxyHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private sent = false;
  /** Status and headers not written yet. */
  private head: { status: number; headers: string[] } | null = null;
  private draining = false;
  private done = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly finished: () => void,
    private readonly failed: (err: BerthError) => void,
  ) {
    res.on('close', () => {
      if (this.done) return;
      this.done = true;
      this.controller?.abort(new Error('the client closed the connection'));
      this.finished();
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    this.sent = true;
    if (this.done) controller.abort(new Error('the client closed the connection'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    if (this.done || status < 200) return; // 1xx: informational, the real response follows
    const te = headers['transfer-encoding'];
    if (te !== undefined && String(te).trim().toLowerCase() !== 'chunked') {
      // A transfer coding other than chunked would reach the client without its framing or coding.
      controller.abort(new Error(`the remote used an unsupported transfer coding: ${String(te).slice(0, 60)}`));
      return;
    }
    const hop = connectionTokens(headers.connection);
    const out: string[] = [];
    let eventStream = false;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined || RESPONSE_DROPPED.has(name) || hop?.has(name)) continue;
      // The client's framing is node's: a Content-Length goes on only with a body of that length (undici
      // checks it), or for HEAD and 304, where it describes the body not sent. A 204 has none.
      if (name === 'content-length' && (te !== undefined || status === 204)) continue;
      if (name === 'content-type' && String(value).startsWith('text/event-stream')) eventStream = true;
      if (Array.isArray(value)) for (const v of value) out.push(name, v);
      else out.push(name, value);
    }
    this.head = { status, headers: out };
    // An event stream may stay quiet for a long time: the client must see the head now.
    if (eventStream && this.writeHead(controller)) this.res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done || (this.head && !this.writeHead(controller))) return;
    if (this.res.write(chunk) || this.draining) return;
    this.draining = true;
    controller.pause();
    this.res.once('drain', () => {
      this.draining = false;
      controller.resume();
    });
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    if (this.done || (this.head && !this.writeHead(controller))) return;
    this.done = true;
    this.res.end();
    this.finished();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.done) return;
    this.done = true;
    if (this.res.headersSent) {
      this.res.destroy();
      this.finished();
      return;
    }
    this.failed(upstreamError(err, this.sent));
  }

  /** Writes the held head; when node refuses it, fails the request (502) and returns false. */
  private writeHead(controller: Dispatcher.DispatchController): boolean {
    const { status, headers } = this.head!;
    this.head = null;
    try {
      this.res.writeHead(status, headers);
      return true;
    } catch (err) {
      this.done = true;
      controller.abort(err as Error);
      this.failed(new BerthError('UPSTREAM_FAILED', `Remote MCP server sent a head that cannot be passed on: ${(err as Error).message}`));
      return false;
    }
  }
}

/** A Berth error for a request that failed before any of its response reached the client. */
function upstreamError(err: Error, sent: boolean): BerthError {
  const code = (err as { code?: unknown }).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return new BerthError('UPSTREAM_TIMEOUT', `Remote MCP server did not answer in time: ${err.message}`);
  const forbidden = forbiddenIn(err);
  if (forbidden || !sent || (typeof code === 'string' && UNREACHABLE_CODES.has(code))) {
    return new BerthError('UPSTREAM_UNAVAILABLE', `Remote MCP server is unreachable: ${(forbidden ?? err).message}`);
  }
  return new BerthError('UPSTREAM_FAILED', `Remote MCP server failed to answer: ${err.message}`);
}
