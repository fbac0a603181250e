import { spawn } from 'node:child_process';

/** What one run of an installer tool (npm, pip, python) gave back. */
export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Standard output, cut at `maxOutputBytes`. */
  stdout: string;
  /** The last lines of standard error (for the error message). */
  stderrTail: string[];
  timedOut: boolean;
}

export interface ToolRun {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** Each line of standard error (npm and pip report progress there), as it comes. */
  onLine?: (line: string) => void;
  /** Standard output kept (default 1 MiB); the rest is dropped. */
  maxOutputBytes?: number;
}

/** Runs an installer tool. Passed to the drivers, so a test can count what ran. */
export type ToolRunner = (run: ToolRun) => Promise<ToolResult>;

const TAIL_LINES = 20;
const MAX_LINE = 2000;

/**
 * Runs a command with a deadline (the whole process group is killed at it), bounded output and
 * standard error streamed line by line. Never rejects for the tool's own failure: the caller reads
 * the result.
 */
export const runTool: ToolRunner = (run) =>
  new Promise((resolve, reject) => {
    const max = run.maxOutputBytes ?? 1024 * 1024;
    const child = spawn(run.command, run.args, { cwd: run.cwd, env: run.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    let outBytes = 0;
    const tail: string[] = [];
    let partial = '';
    let timedOut = false;
    const line = (l: string): void => {
      const cut = l.length > MAX_LINE ? `${l.slice(0, MAX_LINE)}…` : l;
      tail.push(cut);
      if (tail.length > TAIL_LINES) tail.shift();
      run.onLine?.(cut);
    };
    child.stdout.on('data', (d: Buffer) => {
      if (outBytes >= max) return;
      out.push(d.subarray(0, max - outBytes));
      outBytes += Math.min(d.length, max - outBytes);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      partial += d;
      const lines = partial.split(/\r?\n/);
      partial = lines.pop() ?? '';
      // A tool that never ends a line must not grow the buffer without bound.
      if (partial.length > MAX_LINE * 4) {
        line(partial);
        partial = '';
      }
      for (const l of lines) if (l.trim() !== '') line(l);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, run.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (partial.trim() !== '') line(partial);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderrTail: tail, timedOut });
    });
  });
