import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditLog } from '../control/audit.js';
import type { CatalogService } from '../control/catalog.js';
import type { DeploymentService } from '../control/deployments.js';
import type { SecretsService } from '../control/secrets.js';
import type { TokenService } from '../control/tokens.js';
import type { Need, Principal } from '../core/index.js';
import type { Health, WhoAmI } from './contract.js';
import { sendJson } from './http.js';
import { annotateScopes, openApiDocument } from './openapi.js';
import { Router, type RouteContext, type RouteInfo } from './router.js';
import { auditRoutes } from './routes/audit.js';
import { catalogRoutes } from './routes/catalog.js';
import { groupRoutes } from './routes/groups.js';
import type { GroupService } from '../control/groups.js';
import { deploymentRoutes } from './routes/deployments.js';
import type { Idempotency } from '../control/idempotency.js';
import type { RevisionService } from '../control/revisions.js';
import type { SourceService } from '../control/sources.js';
import { sourceRoutes } from './routes/sources.js';
import { secretRoutes } from './routes/secrets.js';
import { tokenRoutes } from './routes/tokens.js';

export interface ApiDeps {
  service: DeploymentService;
  revisions: RevisionService;
  idempotency: Idempotency;
  secrets: SecretsService;
  tokens: TokenService;
  audit: AuditLog;
  /** The catalog of templates (absent: no catalog routes). */
  catalog?: CatalogService;
  /** Groups, and the members each one's last listings left out (absent: no group routes). */
  groups?: { service: GroupService; troubles(name: string): Promise<Record<string, string>> };
  /** Checks a request's credential against what a route needs (the AuthGuard). */
  auth: { require(req: IncomingMessage, need: Need, route: string): Promise<Principal> };
  /** The client's address, for the audit log. */
  sourceOf(req: IncomingMessage): string;
  version: string;
  /** Source uploads (POST /api/sources, multipart creates, PUT …/source) and the largest ZIP (BERTH_SOURCE_MAX_BYTES). */
  sources?: { service: SourceService; maxBytes: number };
  /** Whether this Berth holds the store's reconciler lease (default leader). */
  role?: () => 'leader' | 'standby';
}

/** The REST control API: thin routes over the control services, each with the scope it needs. */
export class Api {
  private readonly router: Router;
  private readonly startedAt = Date.now();

  constructor(private readonly deps: ApiDeps) {
    this.router = new Router({
      require: (req, need, route) => deps.auth.require(req, need, route),
      recordMutation: (ctx, action, route, status, code) => this.recordMutation(ctx, action, route, status, code),
    });
    this.router
      .add('GET', '/', { need: 'public' }, ({ res }) => sendJson(res, 200, { name: 'berth', version: deps.version, api: '/api/openapi.json', mcp: '/s/{id}/mcp' }))
      .add('GET', '/healthz', { need: 'public' }, ({ res }) => {
        const body: Health = { status: 'ok', version: deps.version, uptime_s: Math.floor((Date.now() - this.startedAt) / 1000), role: deps.role?.() ?? 'leader' };
        sendJson(res, 200, body);
      })
      .add('GET', '/api/openapi.json', { need: 'public' }, ({ res }) => sendJson(res, 200, this.openapi()))
      .add('GET', '/api/whoami', { need: 'token' }, ({ res, principal }) => {
        const body: WhoAmI = { id: principal.id, name: principal.name, scopes: [...principal.scopes] };
        sendJson(res, 200, body);
      });
    deploymentRoutes(this.router, deps.service, deps.revisions, deps.idempotency, deps.sources ? { sources: deps.sources.service, maxBytes: deps.sources.maxBytes } : undefined);
    if (deps.sources) sourceRoutes(this.router, deps.sources.service, deps.sources.maxBytes);
    secretRoutes(this.router, deps.secrets);
    tokenRoutes(this.router, deps.tokens);
    auditRoutes(this.router, deps.audit);
    if (deps.catalog) catalogRoutes(this.router, deps.catalog, deps.idempotency);
    if (deps.groups) groupRoutes(this.router, deps.groups.service, deps.groups.troubles);
  }

  #openapi: { doc: Record<string, unknown>; undocumented: string[] } | null = null;

  /** The OpenAPI document, built (from the zod schemas) when first asked for, not at start. */
  private openapi(): Record<string, unknown> {
    if (!this.#openapi) {
      const doc = openApiDocument(this.deps.version);
      this.#openapi = { doc, undocumented: annotateScopes(doc, this.router.routes()) };
    }
    return this.#openapi.doc;
  }

  /** API routes the OpenAPI document does not describe (a test keeps this empty). */
  get undocumented(): string[] {
    this.openapi();
    return this.#openapi!.undocumented;
  }

  matches(path: string): boolean {
    return path === '/' || path === '/healthz' || path === '/api' || path.startsWith('/api/');
  }

  /** Every API route with the scope it needs and, for mutations, its audit action. */
  routes(): RouteInfo[] {
    return this.router.routes();
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    await this.router.handle(req, res, path, query);
  }

  private recordMutation(ctx: RouteContext, action: string, route: RouteInfo, status: number, code: string | null): void {
    this.deps.audit.record({
      principal: ctx.principal,
      action,
      target: ctx.audit.target ?? ctx.params.id ?? ctx.params.key ?? null,
      source: this.deps.sourceOf(ctx.req),
      result: status < 400 ? 'ok' : status === 401 || status === 403 ? 'denied' : 'error',
      code,
      detail: { route: `${route.method} ${route.path}`, status, ...ctx.audit.detail },
    });
  }
}
