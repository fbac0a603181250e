/** `berth status <id>`: one deployment's health as `key: value` lines. */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { withApiOptions } from '../context.js';
import { absoluteEndpoint, formatDuration, renderTable } from '../format.js';

export function registerStatus(program: Command, run: Runner): void {
  withApiOptions(program.command('status').description("show a deployment's status").argument('<id>', 'deployment id')).action(
    (id: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const s = await ctx.client.getStatus(id);
        if (ctx.json) return ctx.printJson(s);
        const status = s.desired !== 'running' && s.desired !== s.status ? `${s.status} (desired: ${s.desired})` : s.status;
        const rows = [
          ['id:', s.id],
          ['status:', status],
          ['message:', s.status_message ?? '-'],
          ['endpoint:', absoluteEndpoint(s.endpoint, ctx.client.baseUrl)],
          ['tools:', s.tools_count === null ? '-' : String(s.tools_count)],
          ['sessions:', String(s.sessions)],
          ['processes:', String(s.processes)],
          ['restarts:', String(s.restart_count)],
          ['uptime:', formatDuration(s.uptime_s)],
        ];
        ctx.out(renderTable(rows[0] ?? [], rows.slice(1)));
      }),
  );
}
