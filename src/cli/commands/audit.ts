/** `berth audit`: query or export the audit log (needs an admin token). */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Runner } from '../context.js';
import { parseCount, withApiOptions } from '../context.js';
import { renderTable } from '../format.js';

export function registerAudit(program: Command, run: Runner): void {
  withApiOptions(program.command('audit').description('show or export the audit log: every change and every refused credential'))
    .option('--since <when>', 'from this time: ISO-8601, or a duration back from now such as 30m, 24h, 7d', '24h')
    .option('--until <when>', 'up to this time (same forms)')
    .option('--actor <id>', 'only this token id (or env, anonymous)')
    .option('--action <action>', 'only this action, e.g. deployment.create, token.revoke, auth.denied')
    .option('--target <id>', 'only this deployment or token')
    .option('--result <result>', 'ok, denied or error')
    .option('--limit <n>', 'at most this many entries (up to 10000)', parseCount, 1000)
    .option('--format <format>', 'csv or ndjson: print the export instead of a table', (v: string) => {
      if (v !== 'csv' && v !== 'ndjson') throw new InvalidArgumentError('expected csv or ndjson');
      return v;
    })
    .action((_o: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const o = cmd.opts() as Record<string, string | number | undefined>;
        const q = new URLSearchParams();
        for (const key of ['since', 'until', 'actor', 'action', 'target', 'result', 'limit']) if (o[key] !== undefined) q.set(key, String(o[key]));
        if (o.format) {
          q.set('format', String(o.format));
          ctx.io.stdout.write(await ctx.client.auditExport(q));
          return;
        }
        const { items } = await ctx.client.audit(q);
        if (ctx.json) return ctx.printJson({ items });
        if (items.length === 0) return ctx.out('No audit entries in that range.');
        ctx.out(renderTable(['AT', 'ACTOR', 'ACTION', 'TARGET', 'SOURCE', 'RESULT', 'CODE'], items.map((e) => [e.at.slice(0, 19), e.actor_name === e.actor ? e.actor : `${e.actor} (${e.actor_name})`, e.action, e.target ?? '-', e.source ?? '-', e.result, e.code ?? '-'])));
      }),
    );
}
