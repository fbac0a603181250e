import type { SecretsService } from '../../control/secrets.js';
import { GLOBAL_SCOPE } from '../../secrets/types.js';
import { readJson, sendJson } from '../http.js';
import type { Router } from '../router.js';

/** A secret value is at most 64 KiB; the body around it a little more. */
const SECRET_BODY_LIMIT = 128 * 1024;

/**
 * Secret names and values: values go in (PUT) and never come out. Token scopes, to be wired with the
 * token work: a deployment's secrets need `deploy`; global secrets and key rotation need `admin`.
 */
export function secretRoutes(router: Router, secrets: SecretsService): void {
  router
    // scope: deploy
    .add('GET', '/api/deployments/:id/secrets', async ({ res, params }) => sendJson(res, 200, await secrets.list(params.id!)))
    // scope: deploy
    .add('PUT', '/api/deployments/:id/secrets/:key', async ({ req, res, params }) => {
      sendJson(res, 200, await secrets.set(params.id!, params.key!, await readJson(req, SECRET_BODY_LIMIT)));
    })
    // scope: deploy
    .add('DELETE', '/api/deployments/:id/secrets/:key', async ({ res, params }) => {
      await secrets.remove(params.id!, params.key!);
      res.writeHead(204, { 'cache-control': 'no-store' }).end();
    })
    // scope: admin
    .add('GET', '/api/secrets/global', async ({ res }) => sendJson(res, 200, await secrets.list(GLOBAL_SCOPE)))
    // scope: admin
    .add('PUT', '/api/secrets/global/:key', async ({ req, res, params }) => {
      sendJson(res, 200, await secrets.set(GLOBAL_SCOPE, params.key!, await readJson(req, SECRET_BODY_LIMIT)));
    })
    // scope: admin
    .add('DELETE', '/api/secrets/global/:key', async ({ res, params }) => {
      await secrets.remove(GLOBAL_SCOPE, params.key!);
      res.writeHead(204, { 'cache-control': 'no-store' }).end();
    })
    // scope: admin
    .add('POST', '/api/secrets/rotate-key', async ({ res }) => sendJson(res, 200, await secrets.rotateKey()));
}
