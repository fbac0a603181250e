import type { SecretsService } from '../../control/secrets.js';
import { GLOBAL_SCOPE } from '../../secrets/types.js';
import { readJson, sendJson } from '../http.js';
import type { Router } from '../router.js';

/** A secret value is at most 64 KiB; the body around it a little more. */
const SECRET_BODY_LIMIT = 128 * 1024;

/**
 * Secret names and values: values go in (PUT) and never come out. A deployment's secrets need
 * `deploy`; global secrets and key rotation need `admin`. The audit log names the secret, never its value.
 */
export function secretRoutes(router: Router, secrets: SecretsService): void {
  router
    .add('GET', '/api/deployments/:id/secrets', { need: 'deploy' }, async ({ res, params }) => sendJson(res, 200, await secrets.list(params.id!)))
    .add('PUT', '/api/deployments/:id/secrets/:key', { need: 'deploy', audit: 'secret.set' }, async (ctx) => {
      ctx.audit.target = `${ctx.params.id}:${ctx.params.key}`;
      sendJson(ctx.res, 200, await secrets.set(ctx.params.id!, ctx.params.key!, await readJson(ctx.req, SECRET_BODY_LIMIT)));
    })
    .add('DELETE', '/api/deployments/:id/secrets/:key', { need: 'deploy', audit: 'secret.delete' }, async (ctx) => {
      ctx.audit.target = `${ctx.params.id}:${ctx.params.key}`;
      await secrets.remove(ctx.params.id!, ctx.params.key!);
      ctx.res.writeHead(204, { 'cache-control': 'no-store' }).end();
    })
    .add('GET', '/api/secrets/global', { need: 'admin' }, async ({ res }) => sendJson(res, 200, await secrets.list(GLOBAL_SCOPE)))
    .add('PUT', '/api/secrets/global/:key', { need: 'admin', audit: 'secret.set' }, async (ctx) => {
      ctx.audit.target = `${GLOBAL_SCOPE}:${ctx.params.key}`;
      sendJson(ctx.res, 200, await secrets.set(GLOBAL_SCOPE, ctx.params.key!, await readJson(ctx.req, SECRET_BODY_LIMIT)));
    })
    .add('DELETE', '/api/secrets/global/:key', { need: 'admin', audit: 'secret.delete' }, async (ctx) => {
      ctx.audit.target = `${GLOBAL_SCOPE}:${ctx.params.key}`;
      await secrets.remove(GLOBAL_SCOPE, ctx.params.key!);
      ctx.res.writeHead(204, { 'cache-control': 'no-store' }).end();
    })
    .add('POST', '/api/secrets/rotate-key', { need: 'admin', audit: 'secrets.rotate-key' }, async ({ res }) => sendJson(res, 200, await secrets.rotateKey()));
}
