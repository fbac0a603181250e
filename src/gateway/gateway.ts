import type { IncomingMessage, ServerResponse } from 'node:http';
import { authChallenge, retryAfterHeader, type RouteInfo } from '../core/http.js';
import { BerthError, toBerthError } from '../core/errors.js';
import type { Principal } from '../core/index.js';
import { DEPLOYMENT_ID_PATTERN } from '../core/ids.js';
import { GROUP_NAME } from '../core/group.js';
import type { ClientIdentity, McpEndpoint } from '../mcp/types.js';
import { readBody, releaseBody } from '../core/http-body.js';
import { sendError as sendJsonRpcError } from '../mcp/wire/http.js';
import type { RateLimiter } from './rate-limit.js';

export interface GatewayDeps {
  /**
   * Checks the request's credential for deployment `id` (AuthGuard.invoke): resolves to the principal,
   * or throws 401/403. `route` names the route for the audit log.
   */
  authorize(req: IncomingMessage, id: string, route: string): Promise<Principal>;
  /** Finds (and if need be waits for) the endpoint of a deployment; throws a BerthError otherwise. */
  endpointFor(id: string): Promise<McpEndpoint>;
  /** The endpoint of a group (`/g/NAME/mcp`); absent: groups are not served. */
  groupEndpointFor?(name: string): Promise<McpEndpoint>;
  /** Called once per MCP POST routed to a deployment. */
  onRequest(id: string): void;
  maxBodyBytes: number;
  /** With `mcp.example.com`, `ID.mcp.example.com/mcp` routes to deployment ID. */
  baseDomain?: string;
  /** Who sent a request, once authorized (for session caps and rate limits). */
  identify(req: IncomingMessage, principal: Principal): ClientIdentity;
  /** Rate limits per token (principal) and per deployment; none when absent. */
  rates?: { token: RateLimiter; deployment: RateLimiter };
  /** Told which deployment a response is for (its log line names it if a slow client is cut off). */
  outbound?: { forDeployment(res: ServerResponse, id: string): void };
}

export interface GatewayRoute {
  /** The deployment id, or `group:NAME` for a group (what credentials and rate limits are keyed by). */
  id: string;
  /** Set for a group's route. */
  group?: string;
  /** The legacy HTTP+SSE transport's stream (`/s/ID/sse`) or message (`/s/ID/message`) URL. */
  legacy?: 'sse' | 'message';
}

// An empty id (`/s//mcp`) still routes here, so an MCP client gets the JSON-RPC 404 of an unknown id.
const PATH_ROUTE = /^\/s\/([^/]*)\/mcp\/?$/;
const LEGACY_ROUTE = /^\/s\/([^/]*)\/(sse|message)\/?$/;
const GROUP_ROUTE = /^\/g\/([^/]*)\/(mcp|sse|message)\/?$/;

/** The data plane: maps a request to a deployment and hands it to that deployment's MCP endpoint. */
export class Gateway {
  private readonly hostSuffix: string | undefined;

  constructor(private readonly deps: GatewayDeps) {
    this.hostSuffix = deps.baseDomain ? `.${deps.baseDomain.toLowerCase()}` : undefined;
  }

  /** The deployment a request addresses (`host`: the lower-cased effective Host), or null when it is not an MCP request. */
  match(host: string, path: string): GatewayRoute | null {
    const m = PATH_ROUTE.exec(path);
    if (m) return { id: decodeSegment(m[1]!) };
    const legacy = LEGACY_ROUTE.exec(path);
    if (legacy) return { id: decodeSegment(legacy[1]!), legacy: legacy[2] as 'sse' | 'message' };
    const g = GROUP_ROUTE.exec(path);
    if (g) {
      const group = decodeSegment(g[1]!);
      return { id: `group:${group}`, group, ...(g[2] === 'mcp' ? {} : { legacy: g[2] as 'sse' | 'message' }) };
    }
    if (this.hostSuffix && (path === '/mcp' || path === '/mcp/')) {
      const name = host.replace(/:\d+$/, '');
      if (name.endsWith(this.hostSuffix)) {
        const id = name.slice(0, -this.hostSuffix.length);
        if (id && !id.includes('.')) return { id };
        // NAME.g.BASE_DOMAIN: a group.
        const group = id.endsWith('.g') ? id.slice(0, -2) : '';
        if (group && !group.includes('.')) return { id: `group:${group}`, group };
      }
    }
    return null;
  }

  /** The MCP routes, each needing `invoke` on the deployment it names (or the deployment being public). */
  routes(): RouteInfo[] {
    const mcp = ['POST', 'GET', 'DELETE'].map((method) => ({ method, path: '/s/:id/mcp', need: 'invoke' as const }));
    const host = this.hostSuffix ? ['POST', 'GET', 'DELETE'].map((method) => ({ method, path: `:id${this.hostSuffix}/mcp`, need: 'invoke' as const })) : [];
    const groups = this.deps.groupEndpointFor
      ? [...['POST', 'GET', 'DELETE'].map((method) => ({ method, path: '/g/:name/mcp', need: 'invoke' as const })), { method: 'GET', path: '/g/:name/sse', need: 'invoke' as const }, { method: 'POST', path: '/g/:name/message', need: 'invoke' as const }]
      : [];
    return [...mcp, { method: 'GET', path: '/s/:id/sse', need: 'invoke' }, { method: 'POST', path: '/s/:id/message', need: 'invoke' }, ...host, ...groups];
  }

  async handle(req: IncomingMessage, res: ServerResponse, route: GatewayRoute): Promise<void> {
    try {
      const base = route.group === undefined ? '/s/:id' : '/g/:name';
      if (route.group !== undefined) {
        if (!this.deps.groupEndpointFor || !GROUP_NAME.test(route.group)) throw new BerthError('GROUP_NOT_FOUND', `No group named ${JSON.stringify(route.group.slice(0, 80))}`);
      } else if (!DEPLOYMENT_ID_PATTERN.test(route.id)) {
        throw new BerthError('DEPLOYMENT_NOT_FOUND', route.id ? `No deployment with id ${route.id}` : 'The endpoint URL has no deployment id: use /s/ID/mcp');
      }
      const principal = await this.deps.authorize(req, route.id, `${req.method} ${base}/${route.legacy ?? 'mcp'}`);
      dropCredentials(req);
      const client = this.deps.identify(req, principal);
      this.deps.outbound?.forDeployment(res, route.id);
      // Before the body is read: a client over its rate costs Berth as little as possible.
      this.deps.rates?.token.check(client.principal, 'this token');
      this.deps.rates?.deployment.check(route.id, `deployment ${route.id}`);
      // The body stays counted against the body budget until the endpoint has taken it (parsed it, written it to
      // the server), so the copies a big request makes on its way are bounded by the budget as well.
      const body = req.method === 'POST' ? await readBody(req, this.deps.maxBodyBytes, { hold: true }) : EMPTY;
      const endpoint = route.group === undefined ? await this.deps.endpointFor(route.id) : await this.deps.groupEndpointFor!(route.group);
      if (req.method === 'POST' && route.group === undefined) this.deps.onRequest(route.id);
      const legacyBase = route.group === undefined ? `/s/${encodeURIComponent(route.id)}` : `/g/${encodeURIComponent(route.group)}`;
      if (!route.legacy) await endpoint.handle(req, res, body, client);
      else if (endpoint.handleLegacy) await endpoint.handleLegacy(req, res, body, route.legacy, legacyBase, client);
      else throw new BerthError('NOT_FOUND', 'This deployment does not serve the legacy HTTP+SSE transport');
    } catch (err) {
      const e = toBerthError(err);
      const challenge = authChallenge(e, req);
      sendJsonRpcError(res, e, { ...retryAfterHeader(e), ...(challenge ? { 'www-authenticate': challenge } : {}) });
    } finally {
      releaseBody(req);
    }
  }
}

/**
 * Berth's token is for Berth: it must not travel on to the server (a url remote would receive it).
 * Removed from both header views the request offers.
 */
export function dropCredentials(req: IncomingMessage): void {
  if (req.headers.authorization === undefined) return;
  delete req.headers.authorization;
  const raw = req.rawHeaders;
  for (let i = raw.length - 2; i >= 0; i -= 2) if (raw[i]!.toLowerCase() === 'authorization') raw.splice(i, 2);
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
