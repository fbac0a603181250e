import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Pool, type Dispatcher } from 'undici';
import { BerthError } from '../../core/errors.js';
import type { EndpointStats, McpEndpoint } from '../types.js';
import { probeRemote } from './probe.js';

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
const HOP_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'trailer', 'upgrade', 'proxy-authenticate']);

/**
 * A deployment of kind `url`: Berth routes to a remote Streamable HTTP server.
 * Requests and responses (including SSE streams) are streamed through a keep-alive pool, bodies untouched.
 */
export class RemoteEndpoint implements McpEndpoint {
  private readonly pool: Pool;
  private readonly path: string;
  private inFlight = 0;

  constructor(private readonly opts: RemoteEndpointOptions) {
    const url = new URL(opts.endpoint);
    this.path = `${url.pathname}${url.search}`;
    this.pool = new Pool(url.origin, { connections: opts.connections ?? 128, pipelining: 1, keepAliveTimeout: 30_000 });
  }

  async start(): Promise<void> {}

  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined && !HOP_HEADERS.has(k)) headers[k] = v;
    }
    Object.assign(headers, this.opts.headers);
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.on('close', onClose);
    this.inFlight++;
    try {
      const up = await this.pool.request({
        path: this.path,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers,
        body: body.length > 0 ? body : null,
        signal: abort.signal,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: 0,
      });
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers)) {
        if (v !== undefined && !HOP_RESPONSE_HEADERS.has(k)) out[k] = v;
      }
      res.writeHead(up.statusCode, out);
      res.flushHeaders();
      await pipeline(up.body, res).catch(() => {});
    } catch (err) {
      if (abort.signal.aborted) return;
      const timedOut = (err as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT';
      throw new BerthError(timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', `Remote MCP server ${timedOut ? 'did not answer in time' : 'is unreachable'}: ${(err as Error).message}`);
    } finally {
      this.inFlight--;
      res.off('close', onClose);
    }
  }

  async probe(timeoutMs: number): Promise<{ tools: { name: string; title?: string; description?: string }[] }> {
    try {
      return await probeRemote(this.pool, this.path, this.opts.headers, AbortSignal.timeout(timeoutMs));
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new BerthError('UPSTREAM_UNAVAILABLE', `Remote MCP server probe failed: ${(err as Error).message}`);
    }
  }

  stats(): EndpointStats {
    return { sessions: 0, processes: 0, inFlight: this.inFlight };
  }

  async close(): Promise<void> {
    await this.pool.close().catch(() => {});
  }
}
