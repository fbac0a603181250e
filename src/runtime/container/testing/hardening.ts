/**
 * What every container gets, checked on the real engine with `podman inspect` and from inside the container:
 * non-root user, read-only root filesystem with a tmpfs /tmp, no capabilities, no-new-privileges, memory/CPU/pids
 * limits, the deployment's own network (servers of two deployments cannot reach each other, nor the host's
 * loopback), the port published on 127.0.0.1 only; and a memory-limit kill reported as out of memory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLogStore } from '../../../telemetry/memory-logs.js';
import { ownerLabels, type ExitInfo, type Workload } from '../../types.js';
import type { ContainerRuntime } from '../runtime.js';
import { podman, TEST_BASE_IMAGE, testContainerRuntime } from './engine.js';

/** A stdio MCP-less program is enough here: the bridge's /health needs an initialize answer, so a tiny MCP server. */
const TINY_MCP = `
const rl = require('readline').createInterface({ input: process.stdin });
rl.on('line', (l) => { const m = JSON.parse(l); if (m.id === undefined) return;
  const result = m.method === 'initialize' ? { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'tiny', version: '1' } } : m.method === 'tools/list' ? { tools: [] } : {};
  process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }) + '\\n'); });`;

/** An HTTP server (the container's main process) that allocates 8 MiB blocks forever on GET /grow. */
const GROWER = `
const blocks = [];
require('http').createServer((req, res) => {
  if (req.url === '/grow') { setInterval(() => blocks.push(Buffer.alloc(8 << 20, 1)), 5); res.end('growing'); return; }
  res.end('ok');
}).listen(8000, '0.0.0.0');`;

function stdioWorkload(id: string, limits = {}): Workload {
  return { deploymentId: id, revision: 1, labels: ownerLabels(id, 1), launch: { command: 'node', args: ['-e', TINY_MCP], env: { SOME_SECRET: 'only-in-env' }, limits, image: { ref: TEST_BASE_IMAGE, serves: 'stdio', port: 8080, path: '/mcp' } } };
}

/** Run from runtime.test.ts, in the same file as the contract: one container suite at a time on the engine. */
export function hardeningSuite(): void {
describe('container hardening (real Podman)', () => {
  let dataDir: string;
  let rt: ContainerRuntime;
  const logs = new MemoryLogStore();
  const exits: { id: string; info: ExitInfo }[] = [];
  let hostOnly: Server;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-ct-'));
    rt = testContainerRuntime(dataDir, logs, { onExit: (id, _rev, info) => exits.push({ id, info }), restart: { initialDelayMs: 200, maxDelayMs: 1000, maxCrashes: 5, windowMs: 60_000 } });
    hostOnly = createServer((s) => s.end('berth api')).listen(0, '127.0.0.1');
  });
  afterAll(async () => {
    await rt.remove('ct-a').catch(() => {});
    await rt.remove('ct-b').catch(() => {});
    await rt.remove('ct-oom').catch(() => {});
    await rt.stopAll(500);
    hostOnly.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const containerOf = (id: string): string => podman(['ps', '-q', '--no-trunc', '--filter', `label=berth.deployment=${id}`]).trim();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the engine's inspect document, read field by field
  const inspect = (id: string): Record<string, any> => (JSON.parse(podman(['inspect', containerOf(id)])) as Record<string, any>[])[0]!;
  const exec = (id: string, script: string): string => podman(['exec', containerOf(id), 'node', '-e', script]).trim();

  it('runs non-root, read-only, without capabilities or new privileges, with limits and a loopback-only port', async () => {
    await rt.ensure(stdioWorkload('ct-a', { memoryMb: 200, pids: 100, cpus: 0.5 }));
    const c = inspect('ct-a');
    expect(c.Config.User).toBe('10001:10001');
    expect(c.HostConfig.ReadonlyRootfs).toBe(true);
    expect(c.HostConfig.Tmpfs).toHaveProperty('/tmp');
    expect(c.HostConfig.CapDrop.length).toBeGreaterThan(0);
    expect(c.HostConfig.CapAdd ?? []).toEqual([]);
    expect(c.HostConfig.SecurityOpt.join(' ')).toMatch(/no-new-privileges/);
    expect(c.HostConfig.Memory).toBe(200 * 1024 * 1024);
    expect(c.HostConfig.MemorySwap).toBe(200 * 1024 * 1024);
    expect(c.HostConfig.PidsLimit).toBe(100);
    expect(c.HostConfig.NanoCpus === 500_000_000 || c.HostConfig.CpuQuota === 50_000).toBe(true);
    expect(Object.values(c.HostConfig.PortBindings as Record<string, { HostIp: string }[]>).flat().map((b) => b.HostIp)).toEqual(['127.0.0.1']);
    expect(c.Config.Labels).toMatchObject({ 'berth.deployment': 'ct-a', 'berth.revision': '1' });
    expect(c.Config.Labels['berth.owner']).toBeTruthy();
    // From inside: who it is, what it may do.
    expect(exec('ct-a', 'process.stdout.write(String(process.getuid()))')).toBe('10001');
    const status = exec('ct-a', "process.stdout.write(require('fs').readFileSync('/proc/self/status','utf8'))");
    expect(status).toMatch(/CapEff:\s+0000000000000000/);
    expect(status).toMatch(/NoNewPrivs:\s+1/);
    expect(exec('ct-a', "try { require('fs').writeFileSync('/etc/x', 'x'); console.log('wrote') } catch (e) { console.log(e.code) }")).toBe('EROFS');
    expect(exec('ct-a', "require('fs').writeFileSync('/tmp/x', 'x'); console.log('tmp ok')")).toBe('tmp ok');
    expect(exec('ct-a', "require('fs').writeFileSync(process.env.HOME + '/x', 'x'); console.log('home ok')")).toBe('home ok');
    expect(exec('ct-a', "console.log(require('fs').readFileSync('/sys/fs/cgroup/memory/memory.limit_in_bytes','utf8').trim())")).toBe(String(200 * 1024 * 1024));
  });

  it('puts each deployment on its own network: servers cannot reach each other, nor the host\'s loopback', async () => {
    await rt.ensure(stdioWorkload('ct-b'));
    const nets = (id: string): Record<string, { IPAddress: string }> => inspect(id).NetworkSettings.Networks;
    const [netA, netB] = [Object.keys(nets('ct-a')), Object.keys(nets('ct-b'))];
    expect(netA).toHaveLength(1);
    expect(netA[0]).not.toBe(netB[0]);
    const ipB = Object.values(nets('ct-b'))[0]!.IPAddress;
    const hostPort = (hostOnly.address() as { port: number }).port;
    const probe = (host: string, port: number): string =>
      exec('ct-a', `const s = require('net').connect(${port}, '${host}'); s.setTimeout(3000, () => { console.log('timeout'); process.exit(0) }); s.on('connect', () => { console.log('open'); process.exit(0) }); s.on('error', (e) => { console.log(e.code); process.exit(0) });`);
    expect(probe(ipB, 8080)).not.toBe('open'); // the other deployment's bridge
    expect(probe('127.0.0.1', hostPort)).not.toBe('open'); // a server on the host's loopback (Berth's API by default)
    // Its own bridge answers inside its own container (the probe itself works).
    expect(probe('127.0.0.1', 8080)).toBe('open');
  });

  it('reports a container killed at its memory limit as out of memory, and starts it again', async () => {
    const w: Workload = { deploymentId: 'ct-oom', revision: 1, labels: ownerLabels('ct-oom', 1), launch: { command: 'node', args: ['-e', GROWER], env: {}, limits: { memoryMb: 64 }, image: { ref: TEST_BASE_IMAGE, serves: 'http', port: 8000, path: '/' } } };
    const s = await rt.ensure(w);
    const firstPid = s.pids[0];
    const url = s.address.kind === 'http' ? s.address.url : '';
    await fetch(`${url}grow`).then((r) => r.text()).catch(() => '');
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !exits.some((e) => e.id === 'ct-oom')) await new Promise((r) => setTimeout(r, 200));
    const exit = exits.find((e) => e.id === 'ct-oom')!.info;
    expect(exit.code).toBe(137);
    expect(exit.reason).toMatch(/out of memory: killed at the 64 MiB limit/);
    const lines = (await logs.read('ct-oom')).map((l) => l.line);
    expect(lines.some((l) => /exited with code 137: out of memory/.test(l))).toBe(true);
    // Started again with backoff, with a new process.
    let again = await rt.observe('ct-oom');
    while (Date.now() < deadline && again?.phase !== 'running') {
      await new Promise((r) => setTimeout(r, 200));
      again = await rt.observe('ct-oom');
    }
    expect(again).toMatchObject({ phase: 'running', lastExit: { code: 137 } });
    expect(again!.pids[0]).not.toBe(firstPid);
  });
});
}
