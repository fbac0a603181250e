/** `berth status <id>`: one deployment's health as `key: value` lines. */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { withApiOptions } from '../context.js';
import type { DeploymentStatusView } from '../../api/contract.js';
import { absoluteEndpoint, formatBytes, formatDuration, renderTable } from '../format.js';

export function registerStatus(program: Command, run: Runner): void {
  withApiOptions(program.command('status').description("show a deployment's status").argument('<id>', 'deployment name or id')).action(
    (id: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const s = await ctx.client.getStatus(id);
        if (ctx.json) return ctx.printJson(s);
        const status = s.desired !== 'running' && s.desired !== s.status ? `${s.status} (desired: ${s.desired})` : s.status;
        const rows = [
          ['id:', s.id],
          ['name:', s.name],
          ['status:', status],
          ['revision:', revisionText(s)],
          ['message:', s.status_message ?? '-'],
          ['endpoint:', absoluteEndpoint(s.endpoint, ctx.client.baseUrl)],
          ...(s.runtime ? [['runtime:', s.runtime]] : []),
          ['tools:', s.tools_count === null ? '-' : String(s.tools_count)],
          ['sessions:', String(s.sessions)],
          ['processes:', String(s.processes)],
          ...usageRows(s),
          ['restarts:', String(s.restart_count)],
          ['uptime:', formatDuration(s.uptime_s)],
          ...scaleRows(s),
          ...isolationRows(s),
        ];
        ctx.out(renderTable(rows[0] ?? [], rows.slice(1)));
      }),
  );
}

/** `3`, or `3 (2 serving)` while a rollout is under way or after one failed; a pending change is named. */
function revisionText(s: DeploymentStatusView): string {
  const serving = s.serving_revision === null || s.serving_revision === s.revision ? '' : ` (${s.serving_revision} serving)`;
  const pending = s.observed_generation < s.generation ? ', change pending' : '';
  return `${s.revision}${serving}${pending}`;
}

/** What each running revision uses now: `38.2 MiB memory, 1.25 s CPU, 3 processes` (the revision named during a rollout). */
function usageRows(s: DeploymentStatusView): string[][] {
  return s.usage.map((u) => {
    const which = s.usage.length > 1 ? ` (revision ${u.revision})` : '';
    return [`usage${which}:`, `${formatBytes(u.memory_bytes)} memory, ${u.cpu_seconds.toFixed(2)} s CPU, ${u.processes} process${u.processes === 1 ? '' : 'es'}`];
  });
}

/** Scale to zero: the idle time, the last request and the next idle stop. */
function scaleRows(s: DeploymentStatusView): string[][] {
  if (!s.scale) return [];
  const last = s.scale.idle_for_s === null ? 'no request yet' : `last request ${formatDuration(s.scale.idle_for_s)} ago`;
  const next = s.scale.next_idle_stop_at ? `, stops at ${s.scale.next_idle_stop_at} if idle` : '';
  return [['scale:', `to zero after ${s.scale.idle_s}s idle; ${last}${next}`]];
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
