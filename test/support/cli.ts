import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, type BerthProcess } from './berth-process.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the real `bin/berth.js` (from dist/) as a separate process against `berth`. */
export function berthCli(berth: BerthProcess, args: string[], timeoutMs = 180_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/berth.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', BERTH_URL: berth.url, BERTH_TOKEN: berth.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The endpoint `berth deploy` printed. */
export function endpointIn(output: string): string {
  const m = /http:\/\/127\.0\.0\.1:\d+\/s\/([a-z0-9-]+)\/mcp/.exec(output);
  if (!m) throw new Error(`no endpoint in output:\n${output}`);
  return m[0];
}
