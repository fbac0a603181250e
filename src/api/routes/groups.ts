import type { GroupService } from '../../control/groups.js';
import type { GroupList } from '../contract.js';
import { readJson, sendJson } from '../http.js';
import type { Router } from '../router.js';

const GROUP_BODY_LIMIT = 256 * 1024;

/** Groups: reading needs `read`, changing `deploy` (like deployments). */
export function groupRoutes(router: Router, groups: GroupService, troubles: (name: string) => Promise<Record<string, string>>): void {
  router
    .add('GET', '/api/groups', { need: 'read' }, async ({ res }) => {
      const list: GroupList = { items: await groups.list() };
      sendJson(res, 200, list);
    })
    .add('POST', '/api/groups', { need: 'deploy', audit: 'group.create' }, async (ctx) => {
      const g = await groups.create(await readJson(ctx.req, GROUP_BODY_LIMIT));
      ctx.audit.target = g.name;
      ctx.audit.detail = { members: g.spec.members.map((m) => m.deployment) };
      sendJson(ctx.res, 201, g);
    })
    .add('GET', '/api/groups/:name', { need: 'read' }, async ({ res, params }) => sendJson(res, 200, { ...(await groups.get(params.name!)), troubles: await troubles(params.name!) }))
    .add('PATCH', '/api/groups/:name', { need: 'deploy', audit: 'group.update' }, async (ctx) => {
      ctx.audit.target = ctx.params.name!;
      sendJson(ctx.res, 200, await groups.update(ctx.params.name!, await readJson(ctx.req, GROUP_BODY_LIMIT)));
    })
    .add('DELETE', '/api/groups/:name', { need: 'deploy', audit: 'group.remove' }, async (ctx) => {
      ctx.audit.target = ctx.params.name!;
      await groups.remove(ctx.params.name!);
      ctx.res.writeHead(204).end();
    });
}
