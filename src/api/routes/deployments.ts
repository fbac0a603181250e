import type { DeploymentService } from '../../control/deployments.js';
import type { Idempotency } from '../../control/idempotency.js';
import type { RevisionService } from '../../control/revisions.js';
import { SourceService } from '../../control/sources.js';
import { BerthError } from '../../core/errors.js';
import type { DeploymentView } from '../../core/index.js';
import type { DeploymentList, LogList, RevisionList } from '../contract.js';
import { readJson, sendJson } from '../http.js';
import type { Router } from '../router.js';
import { checkZipBody, isMultipart, readSourceMultipart } from '../upload.js';
import { streamLogs } from './log-stream.js';

const API_BODY_LIMIT = 1024 * 1024;

function tailParam(q: URLSearchParams): number | undefined {
  const raw = q.get('tail');
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 100_000) throw new BerthError('VALIDATION_FAILED', 'tail must be an integer from 0 to 100000');
  return n;
}

function flag(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v === '1' || v === 'true';
}

/** Source uploads (README "Deploy from source"): the source use-cases and the largest ZIP. */
export interface UploadRoutes {
  sources: SourceService;
  maxBytes: number;
}

/** Seed 004's hosting endpoints, under /api/deployments. `:id` is a deployment's id or its name. */
export function deploymentRoutes(router: Router, service: DeploymentService, revisions: RevisionService, idempotency: Idempotency, uploads?: UploadRoutes): void {
  router
    .add('POST', '/api/deployments', { need: 'deploy', audit: 'deployment.create' }, async (ctx) => {
      // multipart/form-data: a `deployment` JSON field and a `source` ZIP, stored first; the spec then names its digest.
      let body: unknown;
      if (uploads && isMultipart(ctx.req)) {
        const { deployment, stored } = await readSourceMultipart(ctx.req, { maxBytes: uploads.maxBytes, jsonLimit: API_BODY_LIMIT, store: (zip) => uploads.sources.upload(zip) });
        body = SourceService.withUpload(deployment, stored.digest);
      } else body = await readJson(ctx.req, API_BODY_LIMIT);
      const create = async () => ({ statusCode: 201, body: await service.create(body, ctx.principal.id) });
      const key = ctx.req.headers['idempotency-key'];
      const out = typeof key === 'string' ? await idempotency.run<DeploymentView>(ctx.principal.id, key, body, create) : { ...(await create()), replayed: false };
      ctx.audit.target = out.body.id;
      ctx.audit.detail = { name: out.body.name, type: out.body.spec.type, access: out.body.access, ...(out.replayed ? { replayed: true } : {}) };
      if (out.replayed) ctx.res.setHeader('idempotent-replayed', 'true');
      sendJson(ctx.res, out.statusCode, out.body);
    })
    .add('PATCH', '/api/deployments/:id', { need: 'deploy', audit: 'deployment.update' }, async (ctx) => {
      const out = await revisions.update(ctx.params.id!, await readJson(ctx.req, API_BODY_LIMIT), ctx.principal.id);
      ctx.audit.target = out.deployment.id;
      ctx.audit.detail = { revision: out.revision };
      sendJson(ctx.res, out.revision === null ? 200 : 202, out.deployment);
    })
    .add('PUT', '/api/deployments/:id/source', { need: 'deploy', audit: 'deployment.source' }, async (ctx) => {
      if (!uploads) throw new BerthError('RUNTIME_UNAVAILABLE', 'source uploads are not enabled on this Berth');
      checkZipBody(ctx.req, uploads.maxBytes);
      const stored = await uploads.sources.upload(ctx.req);
      const out = await uploads.sources.replace(ctx.params.id!, stored.digest, ctx.principal.id);
      ctx.audit.target = out.deployment.id;
      ctx.audit.detail = { revision: out.revision, digest: stored.digest };
      sendJson(ctx.res, out.revision === null ? 200 : 202, out.deployment);
    })
    .add('POST', '/api/deployments/:id/redeploy', { need: 'deploy', audit: 'deployment.redeploy' }, async (ctx) => {
      const out = await revisions.redeploy(ctx.params.id!, ctx.principal.id);
      ctx.audit.target = out.deployment.id;
      ctx.audit.detail = { revision: out.revision };
      sendJson(ctx.res, 202, out.deployment);
    })
    .add('POST', '/api/deployments/:id/rollback', { need: 'deploy', audit: 'deployment.rollback' }, async (ctx) => {
      const out = await revisions.rollback(ctx.params.id!, await readJson(ctx.req, API_BODY_LIMIT), ctx.principal.id);
      ctx.audit.target = out.deployment.id;
      ctx.audit.detail = { revision: out.revision, from: out.deployment.spec.type };
      sendJson(ctx.res, 202, out.deployment);
    })
    .add('POST', '/api/deployments/:id/restart', { need: 'deploy', audit: 'deployment.restart' }, async (ctx) => {
      const d = await service.restart(ctx.params.id!);
      ctx.audit.target = d.id;
      sendJson(ctx.res, 202, d);
    })
    .add('GET', '/api/deployments/:id/revisions', { need: 'read' }, async ({ res, params }) => {
      const list: RevisionList = { items: await revisions.history(params.id!) };
      sendJson(res, 200, list);
    })
    .add('GET', '/api/deployments', { need: 'read' }, async ({ res, query }) => {
      const list: DeploymentList = { items: await service.list({ includeDeleted: flag(query, 'all') }) };
      sendJson(res, 200, list);
    })
    .add('GET', '/api/deployments/:id', { need: 'read' }, async ({ res, params }) => sendJson(res, 200, await service.get(params.id!)))
    .add('DELETE', '/api/deployments/:id', { need: 'deploy', audit: 'deployment.delete' }, async (ctx) => {
      const d = await service.remove(ctx.params.id!, { keepLogs: flag(ctx.query, 'keep_logs') });
      ctx.audit.target = d.id;
      sendJson(ctx.res, 200, d);
    })
    .add('GET', '/api/deployments/:id/status', { need: 'read' }, async ({ res, params }) => sendJson(res, 200, await service.status(params.id!)))
    .add('POST', '/api/deployments/:id/stop', { need: 'deploy', audit: 'deployment.stop' }, async (ctx) => {
      const d = await service.stop(ctx.params.id!);
      ctx.audit.target = d.id;
      sendJson(ctx.res, 200, d);
    })
    .add('POST', '/api/deployments/:id/start', { need: 'deploy', audit: 'deployment.start' }, async (ctx) => {
      const d = await service.start(ctx.params.id!);
      ctx.audit.target = d.id;
      sendJson(ctx.res, 202, d);
    })
    .add('GET', '/api/deployments/:id/logs', { need: 'read' }, async ({ req, res, params, query }) => {
      const tail = tailParam(query);
      const follow = query.get('follow');
      if (follow === '1' || follow === 'true') {
        await streamLogs(req, res, service, params.id!, tail);
        return;
      }
      const list: LogList = { items: await service.logs(params.id!, tail) };
      sendJson(res, 200, list);
    });
}
