/** Waits for a new revision (an update, redeploy, rollback or restart) to be rolled out, and says how it went. */
import type { DeploymentStatusView } from '../api/contract.js';
import type { DeploymentView } from '../core/index.js';
import type { CliContext } from './context.js';
import { CliFailure } from './context.js';
import { createProgress } from './progress.js';

/**
 * Polls status until the controller has acted on `view`'s generation. Success: `view`'s revision serves.
 * Otherwise the old revision still serves (blue-green), and this fails with the reason.
 */
export async function waitForRollout(ctx: CliContext, view: DeploymentView, timeoutS: number): Promise<DeploymentStatusView> {
  const progress = createProgress(ctx.io.stderr, !ctx.json);
  const deadline = Date.now() + timeoutS * 1000;
  let last: DeploymentStatusView;
  try {
    for (;;) {
      last = await ctx.client.getStatus(view.id);
      progress.update(`${view.name}: revision ${view.revision} ${last.status}${last.status_message ? ` (${last.status_message})` : ''}`);
      if (last.observed_generation >= view.generation && last.status !== 'deploying') break;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new CliFailure(`Timed out after ${timeoutS}s waiting for revision ${view.revision} of ${view.name} (status: ${last.status}); follow it with: berth status ${view.name}`, { code: 'DEPLOY_TIMEOUT' });
      }
      await new Promise((r) => setTimeout(r, Math.min(ctx.pollIntervalMs, left)));
      if (ctx.signal.aborted) throw new CliFailure(`Stopped waiting for ${view.name}; the rollout goes on (berth status ${view.name})`, { code: 'INTERRUPTED' });
    }
  } finally {
    progress.stop();
  }
  if (last.serving_revision !== view.revision || (last.status !== 'running' && last.status !== 'idle')) {
    const serving = last.serving_revision === null ? 'nothing serves' : `revision ${last.serving_revision} still serves`;
    throw new CliFailure(`Revision ${view.revision} of ${view.name} did not take over (${serving}): ${last.status_message ?? last.status}`, {
      code: 'DEPLOY_FAILED',
      extra: [`See: berth logs ${view.name} --tail 50   Go back: berth rollback ${view.name}`],
    });
  }
  return last;
}
