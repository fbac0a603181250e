/** `berth status <id>`: one deployment's health as `key: value` lines. */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { withApiOptions } from '../context.js';
import type { DeploymentStatusView } from '../../api/contract.js';
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
          ...isolationRows(s),
        ];
        ctx.out(renderTable(rows[0] ?? [], rows.slice(1)));
      }),
  );
}

/** Sandbox, limits and the last unexpected exit, for process deployments. */
function isolationRows(s: DeploymentStatusView): string[][] {
  const rows: string[][] = [];
  if (s.sandbox) {
    const net = `network ${s.sandbox.network}${s.sandbox.network_enforced ? '' : ' (not enforced)'}`;
    const mounts = s.sandbox.mounts.map((m) => `${m.path}:${m.mode}`).join(', ');
    rows.push(['sandbox:', [s.sandbox.kind, net, ...(mounts ? [`mounts ${mounts}`] : [])].join(', ')]);
    if (s.sandbox.warning) rows.push(['warning:', s.sandbox.warning]);
  }
  if (s.limits) {
    const off = s.limits.unenforced.length > 0 ? `; not enforced: ${s.limits.unenforced.join(', ')}` : '';
    rows.push(['limits:', `${s.limits.memory_mb} MiB, ${s.limits.pids} pids, ${s.limits.cpus} cpu (${s.limits.enforced_by}${off})`]);
  }
  if (s.last_exit) rows.push(['last exit:', `${s.last_exit.reason ?? s.last_exit.exit} (${s.last_exit.instance_key}, ${s.last_exit.at})`]);
  return rows;
}
