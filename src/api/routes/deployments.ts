import type { DeploymentService } from '../../control/deployments.js';
import { BerthError } from '../../core/errors.js';
import type { DeploymentList, LogList } from '../contract.js';
import { readJson, sendJson } from '../http.js';
import type { Router } from '../router.js';
import { streamLogs } from './log-stream.js';

const API_BODY_LIMIT = 1024 * 1024;

function tailParam(q: URLSearchParams): number | undefined {
  const raw = q.get('tail');
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 100_000) throw new BerthError('VALIDATION_FAILED', 'tail must be an integer from 0 to 100000');
  return n;
}

/** Seed 004's hosting endpoints, under /api/deployments. */
export function deploymentRoutes(router: Router, service: DeploymentService): void {
  router
    .add('POST', '/api/deployments', { need: 'deploy', audit: 'deployment.create' }, async (ctx) => {
      const d = await service.create(await readJson(ctx.req, API_BODY_LIMIT));
      ctx.audit.target = d.id;
      ctx.audit.detail = { name: d.name, type: d.spec.type, access: d.access };
      sendJson(ctx.res, 201, d);
    })
    .add('GET', '/api/deployments', { need: 'read' }, async ({ res, query }) => {
      const list: DeploymentList = { items: await service.list({ includeDeleted: query.get('all') === '1' || query.get('all') === 'true' }) };
      sendJson(res, 200, list);
    })
    .add('GET', '/api/deployments/:id', { need: 'read' }, async ({ res, params }) => sendJson(res, 200, await service.get(params.id!)))
    .add('DELETE', '/api/deployments/:id', { need: 'deploy', audit: 'deployment.delete' }, async ({ res, params }) => sendJson(res, 200, await service.remove(params.id!)))
    .add('GET', '/api/deployments/:id/status', { need: 'read' }, async ({ res, params }) => sendJson(res, 200, await service.status(params.id!)))
    .add('POST', '/api/deployments/:id/stop', { need: 'deploy', audit: 'deployment.stop' }, async ({ res, params }) => sendJson(res, 200, await service.stop(params.id!)))
    .add('POST', '/api/deployments/:id/start', { need: 'deploy', audit: 'deployment.start' }, async ({ res, params }) => sendJson(res, 202, await service.start(params.id!)))
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
