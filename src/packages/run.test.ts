import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runTool } from './run.js';

const env = { PATH: '/usr/bin:/bin' };
const alive = (pid: number): boolean => {
  try {
    return !(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? 'Z').startsWith('Z');
  } catch {
    return false;
  }
};

describe('runTool', () => {
  it('streams standard error line by line, keeps the last lines, and returns standard output', async () => {
    const lines: string[] = [];
    const r = await runTool({ command: 'sh', args: ['-c', 'for i in $(seq 1 30); do echo "err $i" >&2; done; printf out; exit 3'], cwd: '/', env, timeoutMs: 10_000, onLine: (l) => lines.push(l) });
    expect(r).toMatchObject({ code: 3, stdout: 'out', timedOut: false });
    expect(lines).toHaveLength(30);
    expect(r.stderrTail).toHaveLength(20);
    expect(r.stderrTail.at(-1)).toBe('err 30');
  });

  it('bounds standard output and the length of a line', async () => {
    const lines: string[] = [];
    const r = await runTool({ command: 'sh', args: ['-c', 'head -c 300000 /dev/zero | tr "\\\\0" x; head -c 50000 /dev/zero | tr "\\\\0" y >&2'], cwd: '/', env, timeoutMs: 10_000, maxOutputBytes: 1000, onLine: (l) => lines.push(l) });
    expect(r.stdout).toHaveLength(1000);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(2001);
  });

  it('kills the whole process group at the deadline', async () => {
    const r = await runTool({ command: 'sh', args: ['-c', 'sleep 30 & echo $! >&2; wait'], cwd: '/', env, timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    const child = Number(r.stderrTail[0]);
    await new Promise((res) => setTimeout(res, 100));
    expect(alive(child)).toBe(false);
  });
});
