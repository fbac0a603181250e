/** `berth tokens create|ls|revoke`: API tokens (admin). */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { withApiOptions } from '../context.js';
import { renderTable } from '../format.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((s) => s.trim()).filter(Boolean)];

export function registerTokens(program: Command, run: Runner): void {
  const tokens = program.command('tokens').description('create, list and revoke API tokens (needs an admin token)');

  withApiOptions(tokens.command('create').description('create a token; it is printed this once'))
    .requiredOption('--scope <scope>', 'admin, deploy, read, invoke:ID or invoke:* (repeatable, or comma-separated)', collect)
    .option('--name <name>', 'what the token is for')
    .option('--expires <duration>', 'lifetime such as 30d, 12h, 90m, 2w, 1y (default: none)')
    .action((_o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const o = cmd.opts() as { scope: string[]; name?: string; expires?: string };
        const created = await ctx.client.createToken({ scopes: o.scope, ...(o.name ? { name: o.name } : {}), ...(o.expires ? { expires_in: o.expires } : {}) });
        if (ctx.json) return ctx.printJson(created);
        ctx.out(created.token);
        ctx.err(`Created ${created.id} (${created.scopes.join(', ')}${created.expires_at ? `, expires ${created.expires_at}` : ', no expiry'}). It is shown only this once: keep it now.`);
      }),
    );

  withApiOptions(tokens.command('ls').alias('list').description('list tokens (never the tokens themselves)')).action((_o: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      const list = await ctx.client.listTokens();
      if (ctx.json) return ctx.printJson(list);
      const rows = list.items.map((t) => [t.id, t.name, t.scopes.join(','), t.status, `${t.prefix}…`, t.created_at.slice(0, 19), t.expires_at?.slice(0, 19) ?? '-', t.last_used_at?.slice(0, 19) ?? '-']);
      ctx.out(renderTable(['ID', 'NAME', 'SCOPES', 'STATUS', 'PREFIX', 'CREATED', 'EXPIRES', 'LAST USED'], rows));
    }),
  );

  withApiOptions(tokens.command('revoke').description('revoke a token at once').argument('<id>', 'token id (tok_…)')).action((id: string, _o: unknown, cmd: Command) =>
    run(cmd, async (ctx) => {
      const t = await ctx.client.revokeToken(id);
      if (ctx.json) return ctx.printJson(t);
      ctx.out(`Revoked ${t.id} (${t.name}).`);
    }),
  );
}
