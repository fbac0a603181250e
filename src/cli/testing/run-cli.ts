/** Runs main() with captured output, for the CLI's tests. */
import type { CliIo } from '../context.js';
import { main } from '../main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  tty?: boolean;
  signal?: AbortSignal;
  pollIntervalMs?: number;
}

export async function runCli(args: string[], options: RunOptions = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: options.tty ?? false },
    env: options.env ?? {},
    pollIntervalMs: options.pollIntervalMs ?? 20,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const code = await main(['node', 'berth', ...args], io);
  return { code, stdout, stderr };
}
