/** `berth stop <id>`: stop the server; it keeps its id and endpoint. */
import type { Command } from 'commander';
import type { Runner } from '../context.js';
import { registerLifecycle } from './lifecycle.js';

export function registerStop(program: Command, run: Runner): void {
  registerLifecycle(program, run, 'stop', 'stop a deployment', (client, id) => client.stop(id));
}
