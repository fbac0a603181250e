import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError } from '../core/errors.js';
import { sendError } from './http.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
}

type Handler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/** A small method + path router: `/api/deployments/:id/logs`. Unknown paths 404, wrong methods 405. */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const source = path.replace(/:([a-zA-Z]+)/g, (_, key: string) => {
      keys.push(key);
      return '([^/]+)';
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}/?$`), keys, handler });
    return this;
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    let pathMatched = false;
    try {
      for (const r of this.routes) {
        const m = r.pattern.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== req.method) continue;
        const params: Record<string, string> = {};
        r.keys.forEach((k, i) => (params[k] = decodeParam(m[i + 1]!)));
        await r.handler({ req, res, params, query });
        return;
      }
      if (pathMatched) {
        const allowed = this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method);
        res.setHeader('allow', allowed.join(', '));
        throw new BerthError('METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; use ${allowed.join(' or ')}`);
      }
      throw new BerthError('NOT_FOUND', `No route ${req.method} ${path}`);
    } catch (err) {
      sendError(res, err);
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
