import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseTimes, treeUsage } from './usage.js';

describe('process tree usage from /proc', () => {
  it('reads pid, ppid and CPU ticks after the last ")" (a command name may hold spaces and parentheses)', () => {
    // Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime …
    const line = '4242 (a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 12345 1000 10';
    expect(parseTimes(line)).toEqual({ pid: 4242, ppid: 17, ticks: 310 });
    expect(parseTimes('garbage')).toBeNull();
  });

  it('sums a process and its descendants, and counts nothing for a pid that is gone', async () => {
    // A shell with two children of its own: the tree is three processes.
    const sh = spawn('/bin/sh', ['-c', 'sleep 30 & sleep 30 & wait'], { stdio: 'ignore', detached: true });
    try {
      let usage = await treeUsage([sh.pid!]);
      const deadline = Date.now() + 5000;
      while (usage.processes < 3 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        usage = await treeUsage([sh.pid!]);
      }
      expect(usage.processes).toBe(3);
      expect(usage.memoryBytes).toBeGreaterThan(0);
      const self = await treeUsage([process.pid]);
      // This test process holds far more than a shell and two sleeps, and includes them (they are its children).
      expect(self.processes).toBeGreaterThanOrEqual(4);
      expect(self.memoryBytes).toBeGreaterThan(usage.memoryBytes);
      expect(self.cpuSeconds).toBeGreaterThan(0);
    } finally {
      process.kill(-sh.pid!, 'SIGKILL'); // the shell's group: the sleeps too
    }
    expect(await treeUsage([2 ** 22 + 1])).toEqual({ memoryBytes: 0, cpuSeconds: 0, processes: 0 });
  });
});
