import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryLogStore } from '../../telemetry/memory-logs.js';
import { firstLine, nodeProgram, pidAlive } from '../runtime.contract.js';
import { openCgroups, parseSelfCgroup } from './cgroups.js';
import { ProcessRuntime, type ProcessRuntimeOptions } from './runtime.js';
import { hostHas } from './testing/host.js';
import { useRuntimes } from './testing/runtimes.js';

describe('cgroup plumbing', () => {
  it('reads /proc/self/cgroup for v1 hierarchies (combined ones too) and the v2 line', () => {
    const m = parseSelfCgroup('12:pids:/a\n4:cpu,cpuacct:/b/c\n1:name=systemd:/\n0::/unified/x\n');
    expect(m.get('pids')).toBe('/a');
    expect(m.get('cpu')).toBe('/b/c');
    expect(m.get('cpuacct')).toBe('/b/c');
    expect(m.get('')).toBe('/unified/x');
  });

  it('cgroup v2 (simulated cgroupfs in a temp dir: v2 is not mounted on this machine): controllers enabled, limits in memory.max, pids.max, cpu.max; OOM kills read from memory.events', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'berth-fake-cg2-'));
    try {
      writeFileSync(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma\n');
      writeFileSync(path.join(root, 'cgroup.subtree_control'), '');
      const cg = openCgroups({ root, scope: 'berth-test', selfCgroup: '0::/init.scope\n' });
      if ('unavailable' in cg) throw new Error(cg.unavailable);
      expect(cg.version).toBe('cgroup-v2');
      expect(existsSync(path.join(root, 'berth-test'))).toBe(false); // probed, made on first use
      const g = await cg.create('dep.main', { memoryMb: 64, pids: 50, cpus: 0.5 });
      const dir = path.join(root, 'berth-test', 'dep.main');
      expect(readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids +cpu');
      expect(readFileSync(path.join(root, 'berth-test', 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids +cpu');
      expect(readFileSync(path.join(dir, 'memory.max'), 'utf8')).toBe(String(64 * 1024 * 1024));
      expect(readFileSync(path.join(dir, 'pids.max'), 'utf8')).toBe('50');
      expect(readFileSync(path.join(dir, 'cpu.max'), 'utf8')).toBe('50000 100000');
      expect(g.procsFiles).toEqual([path.join(dir, 'cgroup.procs')]);
      writeFileSync(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n');
      expect(await g.oomKills()).toBe(2);
      const partial = path.join(root, 'partial');
      mkdirSync(partial);
      writeFileSync(path.join(partial, 'cgroup.controllers'), 'cpu io\n');
      expect(openCgroups({ root: partial, scope: 's', selfCgroup: '0::/\n' })).toEqual({ unavailable: 'cgroup v2 lacks the controllers memory, pids' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('without cgroups the runtime falls back to prlimit and says what that does not cover', () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-cg-none-'));
    const rt = new ProcessRuntime({ dataDir, logs: new MemoryLogStore(), sandbox: 'none', cgroupRoot: path.join(dataDir, 'no-cgroups-here') });
    expect(rt.limitsEnforcedBy).toBe('prlimit');
    expect(rt.notices().join('\n')).toMatch(/cgroups cannot be used .*fall back to prlimit/);
    expect(rt.isolation({}).limits.unenforced).toContain('cpus');
    rmSync(dataDir, { recursive: true, force: true });
  });
});

/** The server's cgroup folder for one controller, from the host side. */
function groupDir(pid: number, controller: 'memory' | 'pids' | 'cpu'): string {
  const rel = parseSelfCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8')).get(controller);
  if (!rel) throw new Error(`pid ${pid} has no ${controller} cgroup`);
  return path.join('/sys/fs/cgroup', controller, rel);
}

if (hostHas('cgroup limits', ['cgroups'])) {
  describe('cgroup limits (real cgroups)', () => {
    const fx = useRuntimes('berth-cg-', { sandbox: 'auto', stopGraceMs: 300 });
    const make = (o?: Partial<ProcessRuntimeOptions>): ProcessRuntime => fx.make(o);

    it('puts each server in a cgroup of its own with the limits, before it runs, and removes the cgroup after it exits', async () => {
      const rt = make({ limits: { defaults: { memoryMb: 200, pids: 77, cpus: 0.5 } } });
      expect(rt.limitsEnforcedBy).toMatch(/^cgroup-v[12]$/);
      const p = await rt.launch(nodeProgram('cg', "process.stdout.write(require('fs').readFileSync('/proc/self/cgroup', 'utf8').replace(/\\n/g, '|') + '\\n'); process.stdin.resume();"));
      const seen = await firstLine(p);
      expect(seen).toMatch(/:memory:\/.*berth-[0-9a-f]{12}\/cg\.main\|/);
      const mem = groupDir(p.pid, 'memory');
      const pids = groupDir(p.pid, 'pids');
      const cpu = groupDir(p.pid, 'cpu');
      expect(readFileSync(path.join(mem, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(200 * 1024 * 1024));
      expect(readFileSync(path.join(pids, 'pids.max'), 'utf8').trim()).toBe('77');
      expect(readFileSync(path.join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('50000');
      // Everything of the server is inside: the wrapper (bwrap) and the server itself.
      const inside = readFileSync(path.join(pids, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
      expect(inside).toContain(p.pid);
      expect(inside.length).toBeGreaterThanOrEqual(1);
      p.stdin.end();
      await p.exited;
      for (const d of [mem, pids, cpu]) expect(existsSync(d)).toBe(false);
    });

    it('a server that allocates past its memory limit is killed, and its exit says out of memory', async () => {
      const rt = make();
      const hog = "const a = []; for (let i = 0; i < 400; i++) a.push(Buffer.alloc(1 << 20, 1)); process.stdout.write('survived\\n'); process.stdin.resume();";
      const p = await rt.launch(nodeProgram('hog', hog, { limits: { memoryMb: 64 } }));
      const exit = await p.exited;
      expect(exit.reason).toBe('out of memory: killed at the 64 MiB limit');
      expect((await fx.logs.read('hog')).map((e) => e.line)).toContainEqual(expect.stringMatching(/exited with .*: out of memory: killed at the 64 MiB limit$/));
    });

    it('a fork bomb stops at pids.max (bounded: 150 attempts) and the rest of the host keeps going', async () => {
      const rt = make();
      const bomb = `
        const { spawn } = require('child_process');
        let ok = 0, failed = 0;
        for (let i = 0; i < 150; i++) {
          try { const c = spawn('sleep', ['30'], { stdio: 'ignore' }); c.on('error', () => { failed++; }); c.on('spawn', () => { ok++; }); }
          catch { failed++; }
        }
        setTimeout(() => process.stdout.write(JSON.stringify({ ok, failed }) + '\\n'), 1500);
        process.stdin.resume();`;
      const p = await rt.launch(nodeProgram('bomb', bomb, { limits: { pids: 40 } }));
      const r = JSON.parse(await firstLine(p, 30_000)) as { ok: number; failed: number };
      const current = Number(readFileSync(path.join(groupDir(p.pid, 'pids'), 'pids.current'), 'utf8'));
      expect(r.ok).toBeLessThan(40);
      expect(r.failed).toBeGreaterThan(100);
      expect(current).toBeLessThanOrEqual(40);
      // Another server still starts and answers meanwhile.
      expect(await firstLine(await rt.launch(nodeProgram('calm', "process.stdout.write('fine\\n'); process.stdin.resume();")))).toBe('fine');
      await p.stop(300);
      expect(pidAlive(p.pid)).toBe(false);
    });

    it('a busy server gets about its CPU share (throttled by the cgroup; loosely measured)', { timeout: 60_000 }, async () => {
      const rt = make();
      const burn = `
        const { Worker } = require('worker_threads');
        const spin = 'const end = Date.now() + 2000; while (Date.now() < end) {}';
        const t0 = Date.now(); const c0 = process.cpuUsage();
        let left = 2;
        for (let i = 0; i < 2; i++) new Worker(spin, { eval: true }).on('exit', () => {
          if (--left) return;
          const c = process.cpuUsage(c0); const wall = (Date.now() - t0) / 1000;
          process.stdout.write(JSON.stringify({ cores: (c.user + c.system) / 1e6 / wall }) + '\\n');
        });
        process.stdin.resume();`;
      const p = await rt.launch(nodeProgram('burn', burn, { limits: { cpus: 0.5 } }));
      const statFile = path.join(groupDir(p.pid, 'cpu'), 'cpu.stat');
      const { cores } = JSON.parse(await firstLine(p, 30_000)) as { cores: number };
      const throttled = Number(/^nr_throttled (\d+)$/m.exec(readFileSync(statFile, 'utf8'))?.[1]);
      console.log(`2 busy threads under cpus 0.5 used ${cores.toFixed(2)} cores; throttled in ${throttled} periods`);
      expect(throttled).toBeGreaterThan(0);
      expect(cores).toBeLessThan(0.9); // without the limit: up to 2 on this 2-core machine
    });

    it('reapOrphans() empties and removes cgroups a crashed Berth left behind', async () => {
      const first = make();
      const p = await first.launch(nodeProgram('left', 'process.stdin.resume();'));
      const dir = groupDir(p.pid, 'pids');
      // The next Berth of this data dir starts while that one "crashed" (its runtime is gone, its process is not).
      const second = make();
      await second.reapOrphans();
      await p.exited;
      expect(existsSync(dir)).toBe(false);
    });
  });
}
