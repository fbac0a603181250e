import type { IncomingMessage, ServerResponse } from 'node:http';
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

/** Copies the upstream status and headers onto the client response and hands undici the response to write into. */
function writeResponseHead({ statusCode, headers, opaque: res }: Dispatcher.StreamFactoryData<ServerResponse>): ServerResponse {
  const out: Record<string, string | string[]> = {};
  for (const k in headers) {
    const v = headers[k];
    if (v !== undefined && !HOP_RESPONSE_HEADERS.has(k)) out[k] = v;
  }
  res.writeHead(statusCode, out);
  // An event stream may stay quiet for a long time: make sure the client sees the headers now,
  // unless the first event arrives in the same turn (then they go out with it, in one write).
  if (String(headers['content-type'] ?? '').startsWith('text/event-stream')) {
    setImmediate(() => {
      if (!res.headersSent && !res.destroyed) res.flushHeaders();
    });
  }
  return res;
}

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
    for (const k in req.headers) {
      const v = req.headers[k];
      if (v !== undefined && !HOP_HEADERS.has(k)) headers[k] = v;
    }
    Object.assign(headers, this.opts.headers);
    this.inFlight++;
    try {
      // undici writes the upstream body straight into `res` (back-pressure included) and ends it;
      // if the client goes away, the failed write aborts the upstream request.
      await this.pool.stream<ServerResponse>(
        {
          path: this.path,
          method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
          headers,
          body: body.length > 0 ? body : null,
          headersTimeout: this.opts.timeoutMs,
          bodyTimeout: 0,
          opaque: res,
        },
        writeResponseHead,
      );
    } catch (err) {
      if (res.headersSent || res.destroyed) {
        if (!res.writableEnded) res.destroy();
        return;
      }
      const timedOut = (err as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT';
      throw new BerthError(timedOut ? 'UPSTREAM_TIMEOUT' : 'UPSTREAM_UNAVAILABLE', `Remote MCP server ${timedOut ? 'did not answer in time' : 'is unreachable'}: ${(err as Error).message}`);
    } finally {
      this.inFlight--;
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
