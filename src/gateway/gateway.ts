import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError, toBerthError } from '../core/errors.js';
import { DEPLOYMENT_ID_PATTERN } from '../core/ids.js';
import type { ClientIdentity, McpEndpoint } from '../mcp/types.js';
import { readBody, releaseBody } from './body.js';
import { sendError as sendJsonRpcError } from '../mcp/http.js';
import { clientIdentity } from './identity.js';
import { retryAfterHeader, type RateLimiter } from './rate-limit.js';

export interface GatewayDeps {
  /** Finds (and if need be waits for) the endpoint of a deployment; throws a BerthError otherwise. */
  endpointFor(id: string): Promise<McpEndpoint>;
  /** Called once per MCP POST routed to a deployment. */
  onRequest(id: string): void;
  maxBodyBytes: number;
  /** With `mcp.example.com`, `ID.mcp.example.com/mcp` routes to deployment ID. */
  baseDomain?: string;
  /** Who sent a request (default: `clientIdentity`). */
  identify?(req: IncomingMessage): ClientIdentity;
  /** Rate limits per token (principal) and per deployment; none when absent. */
  rates?: { token: RateLimiter; deployment: RateLimiter };
  /** Told which deployment a response is for (its log line names it if a slow client is cut off). */
  outbound?: { forDeployment(res: ServerResponse, id: string): void };
}

export interface GatewayRoute {
  id: string;
  /** The legacy HTTP+SSE transport's stream (`/s/ID/sse`) or message (`/s/ID/message`) URL. */
  legacy?: 'sse' | 'message';
}

// An empty id (`/s//mcp`) still routes here, so an MCP client gets the JSON-RPC 404 of an unknown id.
const PATH_ROUTE = /^\/s\/([^/]*)\/mcp\/?$/;
const LEGACY_ROUTE = /^\/s\/([^/]*)\/(sse|message)\/?$/;

/** The data plane: maps a request to a deployment and hands it to that deployment's MCP endpoint. */
export class Gateway {
  private readonly hostSuffix: string | undefined;
  private readonly identify: (req: IncomingMessage) => ClientIdentity;

  constructor(private readonly deps: GatewayDeps) {
    this.hostSuffix = deps.baseDomain ? `.${deps.baseDomain.toLowerCase()}` : undefined;
    this.identify = deps.identify ?? clientIdentity;
  }

  /** The deployment a request addresses (`host`: the lower-cased effective Host), or null when it is not an MCP request. */
  match(host: string, path: string): GatewayRoute | null {
    const m = PATH_ROUTE.exec(path);
    if (m) return { id: decodeSegment(m[1]!) };
    const legacy = LEGACY_ROUTE.exec(path);
    if (legacy) return { id: decodeSegment(legacy[1]!), legacy: legacy[2] as 'sse' | 'message' };
    if (this.hostSuffix && (path === '/mcp' || path === '/mcp/')) {
      const name = host.replace(/:\d+$/, '');
      if (name.endsWith(this.hostSuffix)) {
        const id = name.slice(0, -this.hostSuffix.length);
        if (id && !id.includes('.')) return { id };
      }
    }
    return null;
  }

  async handle(req: IncomingMessage, res: ServerResponse, route: GatewayRoute): Promise<void> {
    try {
      if (!DEPLOYMENT_ID_PATTERN.test(route.id)) {
        throw new BerthError('DEPLOYMENT_NOT_FOUND', route.id ? `No deployment with id ${route.id}` : 'The endpoint URL has no deployment id: use /s/ID/mcp');
      }
      const client = this.identify(req);
      this.deps.outbound?.forDeployment(res, route.id);
      // Before the body is read: a client over its rate costs Berth as little as possible.
      this.deps.rates?.token.check(client.principal, 'this token');
      this.deps.rates?.deployment.check(route.id, `deployment ${route.id}`);
      // The body stays counted against the body budget until the endpoint has taken it (parsed it, written it to
      // the server), so the copies a big request makes on its way are bounded by the budget as well.
      const body = req.method === 'POST' ? await readBody(req, this.deps.maxBodyBytes, { hold: true }) : EMPTY;
      const endpoint = await this.deps.endpointFor(route.id);
      if (req.method === 'POST') this.deps.onRequest(route.id);
      if (!route.legacy) await endpoint.handle(req, res, body, client);
      else if (endpoint.handleLegacy) await endpoint.handleLegacy(req, res, body, route.legacy, `/s/${encodeURIComponent(route.id)}`, client);
      else throw new BerthError('NOT_FOUND', 'This deployment does not serve the legacy HTTP+SSE transport');
    } catch (err) {
      const e = toBerthError(err);
      sendJsonRpcError(res, e, retryAfterHeader(e));
    } finally {
      releaseBody(req);
    }
  }
}

const EMPTY = Buffer.alloc(0);

/** A path segment, percent-decoded; a malformed escape is kept as written (it then matches no deployment id). */
function decodeSegment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}
