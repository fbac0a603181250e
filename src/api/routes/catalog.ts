import type { CatalogService } from '../../control/catalog.js';
import type { Idempotency } from '../../control/idempotency.js';
import { BerthError } from '../../core/errors.js';
import type { DeploymentView } from '../../core/index.js';
import type { CatalogList } from '../contract.js';
import { readJson, sendJson } from '../http.js';
import type { Router } from '../router.js';

/** A server.json is at most 256 KiB; the body around it a little more. */
const CATALOG_BODY_LIMIT = 320 * 1024;

/**
 * The catalog of templates (server.json): reading it needs `read`, deploying a template `deploy` (like any
 * deployment), adding and removing operator templates `admin`.
 */
export function catalogRoutes(router: Router, catalog: CatalogService, idempotency: Idempotency): void {
  router
    .add('GET', '/api/catalog', { need: 'read' }, async ({ res, query }) => {
      const q = query.get('q') ?? undefined;
      if (q !== undefined && q.length > 200) throw new BerthError('VALIDATION_FAILED', 'q must be at most 200 characters');
      const list: CatalogList = { items: await catalog.list(q) };
      sendJson(res, 200, list);
    })
    .add('GET', '/api/catalog/:name', { need: 'read' }, async ({ res, params }) => sendJson(res, 200, await catalog.get(params.name!)))
    .add('POST', '/api/catalog', { need: 'admin', audit: 'catalog.add' }, async (ctx) => {
      const name = ctx.query.get('name') ?? undefined;
      const entry = await catalog.add(await readJson(ctx.req, CATALOG_BODY_LIMIT), name);
      ctx.audit.target = entry.name;
      ctx.audit.detail = { server: entry.server.name };
      sendJson(ctx.res, 201, entry);
    })
    .add('DELETE', '/api/catalog/:name', { need: 'admin', audit: 'catalog.remove' }, async (ctx) => {
      ctx.audit.target = ctx.params.name!;
      sendJson(ctx.res, 200, await catalog.remove(ctx.params.name!));
    })
    .add('POST', '/api/catalog/:name/deploy', { need: 'deploy', audit: 'deployment.create' }, async (ctx) => {
      const name = ctx.params.name!;
      const body = await readJson(ctx.req, CATALOG_BODY_LIMIT);
      const create = async () => ({ statusCode: 201, body: await catalog.deploy(name, body, ctx.principal.id) });
      const key = ctx.req.headers['idempotency-key'];
      const out = typeof key === 'string' ? await idempotency.run<DeploymentView>(ctx.principal.id, key, { catalog: name, body }, create) : { ...(await create()), replayed: false };
      ctx.audit.target = out.body.id;
      ctx.audit.detail = { name: out.body.name, type: out.body.spec.type, catalog: name, ...(out.replayed ? { replayed: true } : {}) };
      if (out.replayed) ctx.res.setHeader('idempotent-replayed', 'true');
      sendJson(ctx.res, out.statusCode, out.body);
    });
}
