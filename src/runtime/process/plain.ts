import { spawn } from 'node:child_process';
import { LaunchError } from './runtime.js';
import type { StdioProcess } from '../types.js';
import { ProcessHandle } from './handle.js';
import { eachLine } from '../../core/lines.js';

export interface PlainLaunch {
  command: string;
  args: string[];
  /** Complete environment for the child. */
  env: Record<string, string>;
  cwd?: string;
  /** Grace between SIGTERM and SIGKILL on stop (default 2 000). */
  stopGraceMs?: number;
  /** Each stderr line of the child. */
  onStderr?: (line: string) => void;
}

/**
 * Starts a stdio child with no sandbox, pid file or limits of its own: for the bridge program
 * (`berth bridge`), which runs inside a workload whose boundary (a container, or the process
 * runtime's sandbox) is already around it. The child leads its own process group, so stop()
 * reaches what it started.
 */
export async function spawnPlain(req: PlainLaunch): Promise<StdioProcess> {
  const child = spawn(req.command, req.args, { env: req.env, cwd: req.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err: NodeJS.ErrnoException) => reject(new LaunchError(`Cannot start "${req.command}": ${err.message}`, err.code)));
  });
  const onStderr = req.onStderr;
  if (onStderr) eachLine(child.stderr!, onStderr);
  else child.stderr!.resume();
  return new ProcessHandle(child, false, req.stopGraceMs ?? 2000, async () => undefined);
}
