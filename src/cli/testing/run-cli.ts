/** Runs main() with captured output, for the CLI's tests. */
import { Readable } from 'node:stream';
import type { CliIo, InStream } from '../context.js';
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
  /** What stdin holds (a pipe), or a stream standing in for a terminal; none when absent. */
  stdin?: string | InStream;
}

export async function runCli(args: string[], options: RunOptions = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: options.tty ?? false },
    env: options.env ?? {},
    ...(options.stdin === undefined ? {} : { stdin: typeof options.stdin === 'string' ? Readable.from([Buffer.from(options.stdin)]) : options.stdin }),
    pollIntervalMs: options.pollIntervalMs ?? 20,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const code = await main(['node', 'berth', ...args], io);
  return { code, stdout, stderr };
}
