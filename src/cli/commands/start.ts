/** `berth start <id>`: start a stopped (or failed) deployment again. */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { registerLifecycle } from './lifecycle.js';

export function registerStart(program: Command, run: Runner): void {
  registerLifecycle(program, run, 'start', 'start a stopped deployment', (client, id) => client.start(id));
}
