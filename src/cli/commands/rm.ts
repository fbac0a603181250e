/** `berth rm <id>`: delete a deployment. It asks nothing; `--yes` is accepted for scripts written against a future prompt. */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { registerLifecycle } from './lifecycle.js';

export function registerRm(program: Command, run: Runner): void {
  registerLifecycle(program, run, 'rm', 'delete a deployment: its processes, work folder, secrets and logs', (client, id, opts) => client.remove(id, { keepLogs: opts.keepLogs === true }))
    .alias('delete')
    .option('--keep-logs', 'keep its logs (berth logs ID still shows them)')
    .option('-y, --yes', 'do not ask for confirmation (the default today)');
}
