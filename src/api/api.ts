import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DeploymentService } from '../control/deployments.js';
import type { SecretsService } from '../control/secrets.js';
import { BerthError } from '../core/errors.js';
import type { Health } from './contract.js';
import { sendError, sendJson } from './http.js';
import { openApiDocument } from './openapi.js';
import { Router } from './router.js';
import { deploymentRoutes } from './routes/deployments.js';
import { secretRoutes } from './routes/secrets.js';

export interface ApiDeps {
  service: DeploymentService;
  secrets: SecretsService;
  version: string;
  /** When set, every /api route but the OpenAPI document needs `Authorization: Bearer TOKEN`. */
  apiToken?: string;
}

/** The REST control API: thin routes over the deployment service. */
export class Api {
  private readonly router = new Router();
  private readonly startedAt = Date.now();
  private readonly token: Buffer | undefined;

  constructor(private readonly deps: ApiDeps) {
    this.token = deps.apiToken ? Buffer.from(deps.apiToken) : undefined;
    const openapi = openApiDocument(deps.version);
    this.router.add('GET', '/healthz', ({ res }) => {
      const body: Health = { status: 'ok', version: deps.version, uptime_s: Math.floor((Date.now() - this.startedAt) / 1000) };
      sendJson(res, 200, body);
    });
    this.router.add('GET', '/api/openapi.json', ({ res }) => sendJson(res, 200, openapi));
    deploymentRoutes(this.router, deps.service);
    secretRoutes(this.router, deps.secrets);
  }

  matches(path: string): boolean {
    return path === '/healthz' || path === '/api' || path.startsWith('/api/');
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    if (this.token && path.startsWith('/api/') && path !== '/api/openapi.json' && !this.authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer realm="berth"');
      sendError(res, new BerthError('UNAUTHORIZED'));
      return;
    }
    await this.router.handle(req, res, path, query);
  }

  private authorized(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !this.token) return false;
    const given = Buffer.from(m[1]!.trim());
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }
}
