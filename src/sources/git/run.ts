/** Runs the system git with a deadline (the process group is killed at it) and bounded output. */
import { spawn } from 'node:child_process';

export interface GitResult {
  code: number | null;
  stdout: string;
  /** Standard error, its last MAX_ERR bytes. */
  stderr: string;
  timedOut: boolean;
}

const MAX_OUT = 256 * 1024;
const MAX_ERR = 16 * 1024;

export function runGit(args: string[], opts: { cwd: string; env: Record<string, string>; deadline: number; git?: string }): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const left = opts.deadline - Date.now();
    if (left <= 0) {
      resolve({ code: null, stdout: '', stderr: '', timedOut: true });
      return;
    }
    const child = spawn(opts.git ?? 'git', args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      if (out.length < MAX_OUT) out += d.slice(0, MAX_OUT - out.length);
    });
    child.stderr.on('data', (d: string) => {
      err += d;
      if (err.length > MAX_ERR) err = err.slice(-MAX_ERR);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, left);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: out, stderr: err, timedOut });
    });
  });
}
