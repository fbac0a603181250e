/** `berth ls [--all]`: a table of deployments. */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { withApiOptions } from '../context.js';
import { absoluteEndpoint, formatDuration, renderTable } from '../format.js';

export function registerLs(program: Command, run: Runner): void {
  withApiOptions(program.command('ls').alias('list').description('list deployments'))
    .option('-a, --all', 'include deleted deployments')
    .action((_opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const all = Boolean((cmd.opts() as { all?: boolean }).all);
        const list = await ctx.client.listDeployments({ all });
        const items = all ? list.items : list.items.filter((d) => d.status !== 'deleted');
        if (ctx.json) return ctx.printJson({ ...list, items });
        if (items.length === 0) return ctx.out('No deployments. Deploy one with: berth deploy -- <command>');
        const rows = items.map((d) => [
          d.id,
          d.name,
          d.status,
          absoluteEndpoint(d.endpoint, ctx.client.baseUrl),
          formatDuration(d.uptime_s),
          String(d.request_count),
          // The runtime the spec names; `-` for the operator's default (BERTH_DEFAULT_RUNTIME), `remote` for a URL.
          d.spec.type === 'url' ? 'remote' : d.spec.type === 'image' ? 'container' : (d.spec.runtime ?? '-'),
        ]);
        ctx.out(renderTable(['ID', 'NAME', 'STATUS', 'ENDPOINT', 'UPTIME', 'REQUESTS', 'RUNTIME'], rows));
      }),
    );
}
