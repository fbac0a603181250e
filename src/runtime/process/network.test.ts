import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryLogStore } from '../../telemetry/memory-logs.js';
import { firstLine, pidAlive } from '../runtime.contract.js';
import type { LaunchRequest } from '../types.js';
import { blockedRanges, cidrsOverlap, hostRanges, networkOf, NON_PUBLIC_RANGES, pickSlirpNet } from './network.js';
import { ProcessRuntime } from './runtime.js';
import { hostHas } from './testing/host.js';

const iface = (address: string, cidr: string, internal = false): os.NetworkInterfaceInfo =>
  ({ address, cidr, netmask: '', family: 'IPv4', mac: '', internal }) as os.NetworkInterfaceInfo;

describe('egress address plan', () => {
  it('computes networks and overlaps', () => {
    expect(networkOf('192.0.2.77', 24)).toBe('192.0.2.0/24');
    expect(networkOf('10.1.2.3', 8)).toBe('10.0.0.0/8');
    expect(cidrsOverlap('10.0.2.0/24', '10.0.0.0/8')).toBe(true);
    expect(cidrsOverlap('10.0.2.0/24', '10.0.3.0/24')).toBe(false);
    expect(cidrsOverlap('203.0.113.7/32', '203.0.113.0/24')).toBe(true);
  });

  it("blocks the host's own addresses and networks (not loopback), the gateway and the non-public ranges", () => {
    const host = hostRanges({ lo: [iface('127.0.0.1', '127.0.0.1/8', true)], eth0: [iface('198.51.100.9', '198.51.100.9/24')] });
    expect(host).toEqual(['198.51.100.9/32', '198.51.100.0/24']);
    const net = pickSlirpNet(host);
    expect(net).toEqual({ cidr: '10.0.2.0/24', gateway: '10.0.2.2', dns: '10.0.2.3' });
    const blocked = blockedRanges(net, host);
    expect(blocked).toEqual(expect.arrayContaining(['10.0.2.2/32', '198.51.100.9/32', '198.51.100.0/24', ...NON_PUBLIC_RANGES]));
    expect(blocked).toContain('169.254.0.0/16'); // cloud metadata
  });

  it("moves slirp's network off the host's, and never prohibits slirp's own network", () => {
    const host = hostRanges({ eth0: [iface('10.0.2.15', '10.0.2.15/24')] });
    const net = pickSlirpNet(host);
    expect(cidrsOverlap(net.cidr, '10.0.2.0/24')).toBe(false);
    expect(blockedRanges(net, host)).toContain('10.0.2.15/32');
    const inside = pickSlirpNet([]);
    expect(blockedRanges(inside, ['10.0.2.0/24'])).not.toContain('10.0.2.0/24');
  });
});

/** Tries TCP connections from inside the sandbox; prints {target: 'connected' | errno}. */
const PROBE = `
const net = require('net');
const targets = JSON.parse(process.argv[1]);
const out = {};
let left = targets.length;
for (const [host, port] of targets) {
  const s = net.connect({ host, port, timeout: 3000 });
  const done = (r) => { if (out[host + ':' + port]) return; out[host + ':' + port] = r; s.destroy(); if (--left === 0) process.stdout.write(JSON.stringify(out) + '\\n'); };
  s.on('connect', () => done('connected'));
  s.on('timeout', () => done('ETIMEDOUT'));
  s.on('error', (e) => done(e.code));
}
setInterval(() => {}, 1000);
`;

function externalAddress(): string | null {
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  return null;
}

function listen(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s) => {
      s.on('error', () => {}); // the probe hangs up at once
      s.end('hello');
    });
    srv.once('error', reject);
    srv.listen(0, host, () => resolve(srv));
  });
}

const portOf = (s: Server): number => (s.address() as { port: number }).port;

if (hostHas('sandbox network (bwrap + slirp4netns)', ['bwrap', 'egress'])) {
  describe('sandbox network', () => {
    let dataDir: string;
    let logs: MemoryLogStore;
    const runtimes: ProcessRuntime[] = [];
    const servers: Server[] = [];
    const external = externalAddress();

    beforeAll(() => {
      if (!external) throw new Error('this test needs a non-loopback IPv4 address on the host');
    });
    beforeEach(() => {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-net-'));
      logs = new MemoryLogStore();
    });
    afterEach(async () => {
      await Promise.all(runtimes.splice(0).map((r) => r.stopAll(300)));
      await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
      rmSync(dataDir, { recursive: true, force: true });
    });

    const make = (hostNetwork: 'allow' | 'deny' = 'deny'): ProcessRuntime => {
      const rt = new ProcessRuntime({ dataDir, logs, sandbox: 'bubblewrap', stopGraceMs: 300, hostNetwork });
      runtimes.push(rt);
      return rt;
    };
    const probe = async (rt: ProcessRuntime, network: LaunchRequest['network'], targets: [string, number][]): Promise<Record<string, string>> => {
      const p = await rt.launch({ deploymentId: `probe-${network}`, instanceKey: 'main', command: 'node', args: ['-e', PROBE, JSON.stringify(targets)], env: {}, network });
      return JSON.parse(await firstLine(p)) as Record<string, string>;
    };

    it("egress: the host's loopback, its external address, the gateway and private ranges are out of reach; host network (control) reaches them", async () => {
      const onLoopback = await listen('127.0.0.1');
      const onExternal = await listen(external!);
      servers.push(onLoopback, onExternal);
      const lo = portOf(onLoopback);
      const ext = portOf(onExternal);
      const targets: [string, number][] = [
        ['127.0.0.1', lo],
        [external!, ext],
        ['10.0.2.2', lo],
        ['10.0.2.2', ext],
        ['169.254.169.254', 80],
        ['192.168.1.1', 80],
      ];
      const control = await probe(make('allow'), 'host', targets.slice(0, 2));
      expect(control).toEqual({ [`127.0.0.1:${lo}`]: 'connected', [`${external}:${ext}`]: 'connected' });

      const r = await probe(make(), 'egress', targets);
      // 127.0.0.1 is the sandbox's own loopback now: nothing listens there.
      expect(r[`127.0.0.1:${lo}`]).toBe('ECONNREFUSED');
      // Prohibit routes answer EACCES at once.
      for (const [h, p] of targets.slice(1)) expect([`${h}:${p}`, r[`${h}:${p}`]]).toEqual([`${h}:${p}`, 'EACCES']);
    });

    it('none: no route anywhere but its own loopback', async () => {
      const onExternal = await listen(external!);
      servers.push(onExternal);
      const r = await probe(make(), 'none', [[external!, portOf(onExternal)], ['203.0.113.80', 443]]);
      expect(Object.values(r)).toEqual(['ENETUNREACH', 'ENETUNREACH']);
    });

    it('egress: DNS goes to slirp, and the server cannot remove its prohibit routes', async () => {
      const rt = make();
      const script = `
        const { execFileSync } = require('child_process');
        const fs = require('fs');
        let del;
        try { execFileSync('ip', ['route', 'del', '10.0.0.0/8'], { stdio: 'pipe' }); del = 'removed'; } catch (e) { del = String(e.stderr); }
        const routes = execFileSync('ip', ['route'], { encoding: 'utf8' });
        process.stdout.write(JSON.stringify({ resolv: fs.readFileSync('/etc/resolv.conf', 'utf8'), del, routes }) + '\\n');`;
      const p = await rt.launch({ deploymentId: 'routes', instanceKey: 'main', command: 'node', args: ['-e', script], env: {} });
      const line = await firstLine(p).catch(async (err: Error) => {
        throw new Error(`${err.message}; logs: ${(await logs.read('routes')).map((e) => e.line).join(' | ')}`);
      });
      const r = JSON.parse(line) as { resolv: string; del: string; routes: string };
      expect(r.resolv).toMatch(/^nameserver 10\.0\.2\.3$/m);
      expect(r.del).toMatch(/Operation not permitted/);
      expect(r.routes).toMatch(/^prohibit 10\.0\.0\.0\/8/m);
      expect(r.routes).toMatch(/^default via 10\.0\.2\.2 dev tap0/m);
    });

    it('the slirp4netns helper ends with its server, and with Berth when Berth is killed', { timeout: 60_000 }, async () => {
      const rt = make();
      const p = await rt.launch({ deploymentId: 'life', instanceKey: 'main', command: 'node', args: ['-e', 'setInterval(() => {}, 1000)'], env: {} });
      const slirp = Number(/slirp4netns pid (\d+)/.exec((await logs.read('life')).map((e) => e.line).join('\n'))?.[1]);
      expect(pidAlive(slirp)).toBe(true);
      await p.stop(300);
      expect(pidAlive(slirp)).toBe(false);

      // A Berth (here: a Node process running the runtime) dies by SIGKILL: no helper survives it.
      const runtimeModule = path.join(import.meta.dirname, 'runtime.ts');
      const logsModule = path.join(import.meta.dirname, '../../telemetry/memory-logs.ts');
      const crashDir = mkdtempSync(path.join(os.tmpdir(), 'berth-net-crash-'));
      const script = `
        const { ProcessRuntime } = await import(${JSON.stringify(runtimeModule)});
        const { MemoryLogStore } = await import(${JSON.stringify(logsModule)});
        const logs = new MemoryLogStore();
        const rt = new ProcessRuntime({ dataDir: ${JSON.stringify(crashDir)}, logs, sandbox: 'bubblewrap' });
        await rt.launch({ deploymentId: 'crash', instanceKey: 'main', command: 'node', args: ['-e', 'setInterval(() => {}, 1000)'], env: {} });
        const line = (await logs.read('crash')).map((e) => e.line).join('\\n');
        process.stdout.write(/slirp4netns pid (\\d+)/.exec(line)[1] + '\\n');
        setInterval(() => {}, 1000);`;
      const berth = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      const helperPid = await new Promise<number>((resolve, reject) => {
        berth.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        berth.once('exit', (code) => reject(new Error(`runtime process exited with ${code}`)));
      });
      expect(pidAlive(helperPid)).toBe(true);
      berth.kill('SIGKILL');
      const deadline = Date.now() + 5000;
      while (pidAlive(helperPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(pidAlive(helperPid)).toBe(false);
      // Its cgroups are left for the next Berth of that data dir to reap.
      const next = new ProcessRuntime({ dataDir: crashDir, logs, sandbox: 'bubblewrap' });
      await next.reapOrphans();
      await next.stopAll();
      rmSync(crashDir, { recursive: true, force: true });
    });

    it('measures what egress adds to a start (printed, not asserted)', { timeout: 60_000 }, async () => {
      const rt = make('allow');
      const figures: Record<string, number[]> = { host: [], none: [], egress: [] };
      for (let round = 0; round < 5; round++) {
        for (const network of ['host', 'none', 'egress'] as const) {
          const t0 = performance.now();
          const p = await rt.launch({ deploymentId: `t-${network}`, instanceKey: `r${round}`, command: 'node', args: ['-e', "process.stdout.write('up\\n'); setInterval(() => {}, 1000)"], env: {}, network });
          expect(await firstLine(p)).toBe('up');
          figures[network]!.push(performance.now() - t0);
          await p.stop(300);
        }
      }
      const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const setup = [...(await logs.read('t-egress')).map((e) => e.line).join('\n').matchAll(/network egress ready in (\d+) ms/g)].map((m) => Number(m[1]));
      expect(setup).toHaveLength(5);
      console.log(
        `start until first stdout line, median of 5 (ms): ${Object.entries(figures).map(([k, v]) => `${k} ${median(v).toFixed(0)}`).join(', ')}; ` +
          `slirp4netns + routes, median ${median(setup)} ms (${setup.join(', ')})`,
      );
    });
  });
}
