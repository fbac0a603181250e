/** `berth restart <name|id>`: fresh processes on the current revision; a failed deployment is retried at once. */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { registerLifecycle } from './lifecycle.js';

export function registerRestart(program: Command, run: Runner): void {
  registerLifecycle(program, run, 'restart', 'restart a deployment on its current revision (retries a failed one at once)', (client, id) => client.restart(id));
}
