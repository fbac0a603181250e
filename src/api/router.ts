import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError, toBerthError, type Need, type Principal } from '../core/index.js';
import { authChallenge, type RouteInfo, type RouteRule } from '../core/http.js';
import { sendError } from './http.js';

export type { RouteInfo, RouteRule } from '../core/http.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Who is asking (ANONYMOUS on public routes without a token). */
  principal: Principal;
  /** What the audit entry of a mutation says beyond the route: the target when it is not the `:id`/`:key` param, details. */
  audit: { target?: string; detail?: Record<string, unknown> };
}

type Handler = (ctx: RouteContext) => Promise<void> | void;

interface Route extends RouteInfo {
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/** How the router checks credentials and records mutations (the AuthGuard and AuditLog, narrowed). */
export interface RouterSecurity {
  require(req: IncomingMessage, need: Need, route: string): Promise<Principal>;
  recordMutation(ctx: RouteContext, action: string, route: RouteInfo, status: number, code: string | null): void;
}

/**
 * A small method + path router: `/api/deployments/:id/logs`. Unknown paths 404, wrong methods 405.
 * Credentials are checked before the handler runs; every non-GET route is written to the audit log.
 */
export class Router {
  private readonly table: Route[] = [];

  constructor(private readonly security: RouterSecurity) {}

  add(method: string, path: string, rule: RouteRule, handler: Handler): this {
    if (method !== 'GET' && !rule.audit) throw new Error(`Router: ${method} ${path} changes state, so it needs an audit action`);
    const keys: string[] = [];
    const source = path.replace(/:([a-zA-Z]+)/g, (_, key: string) => {
      keys.push(key);
      return '([^/]+)';
    });
    this.table.push({ method, path, ...rule, pattern: new RegExp(`^${source}/?$`), keys, handler });
    return this;
  }

  /** Every route with its rule, in registration order. */
  routes(): RouteInfo[] {
    return this.table.map(({ method, path, need, audit }) => ({ method, path, need, ...(audit ? { audit } : {}) }));
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    let ctx: RouteContext | undefined;
    let route: Route | undefined;
    try {
      let pathMatched = false;
      let match: RegExpExecArray | null = null;
      for (const r of this.table) {
        const m = r.pattern.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== req.method) continue;
        route = r;
        match = m;
        break;
      }
      if (!route || !match) {
        if (!pathMatched) throw new BerthError('NOT_FOUND', `No route ${req.method} ${path}`);
        const allowed = this.table.filter((r) => r.pattern.test(path)).map((r) => r.method);
        res.setHeader('allow', allowed.join(', '));
        throw new BerthError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; use ${allowed.join(' or ')}`);
      }
      const principal = await this.security.require(req, route.need, `${route.method} ${route.path}`);
      const params: Record<string, string> = {};
      const m = match;
      route.keys.forEach((k, i) => (params[k] = decodeParam(m[i + 1]!)));
      ctx = { req, res, params, query, principal, audit: {} };
      await route.handler(ctx);
      if (route.audit) this.security.recordMutation(ctx, route.audit, route, res.statusCode, null);
    } catch (err) {
      const e = toBerthError(err);
      const challenge = authChallenge(e, req);
      if (challenge) res.setHeader('www-authenticate', challenge);
      sendError(res, e);
      if (ctx && route?.audit) this.security.recordMutation(ctx, route.audit, route, e.status, e.code);
    }
  }
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new BerthError('VALIDATION_FAILED', `Malformed percent-escape in path segment ${JSON.stringify(raw)}`);
  }
}
