/** Polls a deployment's status until it runs, fails, or the timeout passes. */
import type { DeploymentStatusView } from '../api/contract.js';
import type { CliContext } from './context.js';
import { CliFailure } from './context.js';
import { formatLogEntry } from './format.js';
import { createProgress } from './progress.js';

const READY = new Set(['running', 'idle']);
const TERMINAL = new Set(['failed', 'stopped', 'deleted']);

export async function waitUntilRunning(ctx: CliContext, id: string, timeoutS: number): Promise<DeploymentStatusView> {
  const progress = createProgress(ctx.io.stderr, !ctx.json);
  const deadline = Date.now() + timeoutS * 1000;
  let last: DeploymentStatusView | undefined;
  try {
    for (;;) {
      last = await ctx.client.getStatus(id);
      progress.update(`${id}: ${last.status}`);
      if (READY.has(last.status)) return last;
      if (TERMINAL.has(last.status)) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      await sleep(Math.min(ctx.pollIntervalMs, left), ctx.signal);
      if (ctx.signal.aborted) throw new CliFailure(`Stopped waiting for ${id}; it keeps deploying (berth status ${id})`, { code: 'INTERRUPTED' });
    }
  } finally {
    progress.stop();
  }
  if (ctx.json) ctx.printJson(last);
  const extra = await lastLogLines(ctx, id);
  if (TERMINAL.has(last.status)) {
    const why = last.status_message ? `: ${last.status_message}` : '';
    throw new CliFailure(`Deployment ${id} is ${last.status}${why}`, { code: 'DEPLOY_FAILED', extra });
  }
  throw new CliFailure(
    `Timed out after ${timeoutS}s waiting for ${id} to run (status: ${last.status}); follow it with: berth status ${id}`,
    { code: 'DEPLOY_TIMEOUT', extra },
  );
}

/** Log lines shown when a deploy fails: the last 20, after any earlier warning from Berth they would hide (a sandbox hint, say). */
async function lastLogLines(ctx: CliContext, id: string): Promise<string[]> {
  try {
    const { items } = await ctx.client.getLogs(id, 200);
    if (items.length === 0) return [];
    const warnings = items.slice(0, -20).filter((e) => e.stream === 'system' && / warning: /.test(e.line));
    return ['Last log lines:', ...[...warnings, ...items.slice(-20)].map(formatLogEntry)];
  } catch {
    return [];
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
