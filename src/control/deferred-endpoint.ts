import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError } from '../core/errors.js';
import type { ToolSummary } from '../core/index.js';
import { sendError } from '../mcp/wire/http.js';
import type { ClientIdentity, EndpointStats } from '../mcp/types.js';
import type { ManagedEndpoint } from './reconciler.js';

const IDLE: EndpointStats = { sessions: 0, processes: 0, inFlight: 0 };

/**
 * An endpoint whose real one is made by `prepare` when it starts: work that must happen at each
 * start, such as resolving secret references, runs there, and its failure fails the start.
 */
export class DeferredEndpoint implements ManagedEndpoint {
  #inner: ManagedEndpoint | null = null;
  #closed = false;

  constructor(private readonly prepare: () => Promise<ManagedEndpoint>) {}

  async start(): Promise<void> {
    const inner = await this.prepare();
    if (this.#closed) {
      await inner.close();
      throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint was closed while it started');
    }
    this.#inner = inner;
    await inner.start();
  }

  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer, client?: ClientIdentity): Promise<void> {
    if (this.#inner) return this.#inner.handle(req, res, body, client);
    sendError(res, new BerthError('UPSTREAM_UNAVAILABLE', 'The MCP server is not started'));
  }

  async handleLegacy(req: IncomingMessage, res: ServerResponse, body: Buffer, kind: 'sse' | 'message', basePath: string, client?: ClientIdentity): Promise<void> {
    if (!this.#inner) return sendError(res, new BerthError('UPSTREAM_UNAVAILABLE', 'The MCP server is not started'));
    if (!this.#inner.handleLegacy) throw new BerthError('NOT_FOUND', 'This deployment does not serve the legacy HTTP+SSE transport');
    return this.#inner.handleLegacy(req, res, body, kind, basePath, client);
  }

  /** The real endpoint, once made (for subclasses that act on it). */
  protected get inner(): ManagedEndpoint | null {
    return this.#inner;
  }

  probe(timeoutMs: number): Promise<{ tools: ToolSummary[] }> {
    if (!this.#inner) return Promise.reject(new BerthError('UPSTREAM_UNAVAILABLE', 'The MCP server is not started'));
    return this.#inner.probe(timeoutMs);
  }

  stats(): EndpointStats {
    return this.#inner?.stats() ?? IDLE;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#inner?.close();
  }
}
