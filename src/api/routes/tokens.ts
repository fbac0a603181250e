import type { TokenService } from '../../control/tokens.js';
import { readJson, sendJson } from '../http.js';
import type { Router } from '../router.js';

const BODY_LIMIT = 64 * 1024;

/** API tokens: create (the token is in this answer only), list, revoke. Admin only. */
export function tokenRoutes(router: Router, tokens: TokenService): void {
  router
    .add('POST', '/api/tokens', { need: 'admin', audit: 'token.create' }, async (ctx) => {
      const created = await tokens.create(await readJson(ctx.req, BODY_LIMIT), ctx.principal);
      ctx.audit.target = created.id;
      ctx.audit.detail = { scopes: created.scopes, expires_at: created.expires_at };
      sendJson(ctx.res, 201, created);
    })
    .add('GET', '/api/tokens', { need: 'admin' }, async ({ res }) => sendJson(res, 200, { items: await tokens.list() }))
    .add('DELETE', '/api/tokens/:id', { need: 'admin', audit: 'token.revoke' }, async ({ res, params }) => sendJson(res, 200, await tokens.revoke(params.id!)));
}
