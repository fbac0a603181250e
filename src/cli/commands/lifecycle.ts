/** Shared body of `berth stop|start|rm <id>`: silent on success, the deployment JSON with --json. */
import type { Command } from 'commander';
import type { DeploymentView } from '../../core/index.js';
import type { ApiClient } from '../api-client.js';
import type { Runner } from '../context.js';
import { withApiOptions } from '../context.js';

export function registerLifecycle(
  program: Command,
  run: Runner,
  name: string,
  description: string,
  call: (client: ApiClient, id: string, opts: Record<string, unknown>) => Promise<DeploymentView>,
): Command {
  return withApiOptions(program.command(name).description(description).argument('<id>', 'deployment name or id')).action(
    (id: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const view = await call(ctx.client, id, cmd.opts());
        if (ctx.json) ctx.printJson(view);
      }),
  );
}
