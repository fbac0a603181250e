import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { MemoryLogStore } from '../../telemetry/memory-logs.js';
import { firstLine, nodeProgram, runRuntimeContract, waitForLog } from '../runtime.contract.js';
import { ProcessRuntime, type ProcessRuntimeOptions } from './index.js';
import { resolveCommand } from './sandbox.js';
import { useRuntimes } from './testing/runtimes.js';

const FACTORY = fileURLToPath(new URL('./factory.contract.ts', import.meta.url));
const HAS_BWRAP = resolveCommand('bwrap', '/usr/local/bin:/usr/bin:/bin', '/') !== null;

runRuntimeContract('process (sandbox none)', ({ dataDir, logs, allowedRoot }) => new ProcessRuntime({ dataDir, logs, sandbox: 'none', stopGraceMs: 1000, mountRoots: [allowedRoot] }), {
  crash: { factoryModule: FACTORY, variant: 'none', diesWithParent: false },
});

if (HAS_BWRAP) {
  runRuntimeContract('process (sandbox bubblewrap)', ({ dataDir, logs, allowedRoot }) => new ProcessRuntime({ dataDir, logs, sandbox: 'bubblewrap', stopGraceMs: 1000, mountRoots: [allowedRoot] }), {
    crash: { factoryModule: FACTORY, variant: 'bubblewrap', diesWithParent: true },
  });
} else if (process.env.CI === 'true') {
  describe('process (sandbox bubblewrap)', () => {
    it('needs bwrap in CI', () => {
      throw new Error('bwrap is not installed: install the Debian/Ubuntu package "bubblewrap" in CI');
    });
  });
} else {
  console.warn('\n!!! SKIPPING the bubblewrap runtime suite: `bwrap` is not on PATH (apt-get install bubblewrap) !!!\n');
}

describe('ProcessRuntime specifics', () => {
  const fx = useRuntimes('berth-proc-', { sandbox: 'none', stopGraceMs: 1000 });
  const make = (o?: Partial<ProcessRuntimeOptions>): ProcessRuntime => fx.make(o);

  it('rejects bad options loudly', () => {
    expect(() => new ProcessRuntime({ dataDir: 'relative', logs: fx.logs, sandbox: 'none' })).toThrow(/dataDir must be an absolute path/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'docker' as never })).toThrow(/sandbox must be/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: {} as never, sandbox: 'none' })).toThrow(/logs must be a LogStore/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'none', stopGraceMs: -1 })).toThrow(/stopGraceMs/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'none', limits: { nofile: 0 } })).toThrow(/limits.nofile/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'bubblewrap', hostPath: '/nonexistent' })).toThrow(/needs the bwrap binary.*bubblewrap/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'none', limits: { nofile: 10 }, hostPath: '/nonexistent' })).toThrow(/prlimit/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'none', limits: { defaults: { memoryMb: 9000 }, max: { memoryMb: 8000 } } })).toThrow(/limits.defaults.memoryMb \(9000\) is above/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'none', limits: { defaults: { cpus: 0 } } })).toThrow(/limits.defaults.cpus must be a positive number/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'none', limits: { mode: 'cgroup' }, cgroupRoot: path.join(fx.dataDir, 'no-cgroups') })).toThrow(/limits.mode 'cgroup' but cgroups cannot be used/);
    expect(() => new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'none', hostNetwork: 'yes' as never })).toThrow(/hostNetwork/);
    expect(new ProcessRuntime({ dataDir: fx.dataDir, logs: fx.logs, sandbox: 'auto', hostPath: '/nonexistent' }).sandbox).toBe('none');
  });

  it('uses work/<id> as default cwd and work/<id>/home as default HOME, adds PATH only when absent', async () => {
    const rt = make();
    const show = "process.stdout.write(JSON.stringify({ cwd: process.cwd(), home: process.env.HOME, path: process.env.PATH }) + '\\n'); setInterval(() => {}, 1000);";
    const a = JSON.parse(await firstLine(await rt.launch(nodeProgram('dflt', show)))) as Record<string, string>;
    expect(a.cwd).toBe(path.join(fx.dataDir, 'work', 'dflt'));
    expect(a.home).toBe(path.join(fx.dataDir, 'work', 'dflt', 'home'));
    expect(a.path).toContain('/usr/bin');
    const b = JSON.parse(
      await firstLine(await rt.launch(nodeProgram('dflt', show, { instanceKey: 'two', env: { HOME: '/somewhere', PATH: '/usr/bin:/bin' } }))),
    ) as Record<string, string>;
    expect(b).toMatchObject({ home: '/somewhere', path: '/usr/bin:/bin' });
  });

  it('writes a pid file while running, removes it on exit, and logs stderr and lifecycle lines', async () => {
    const rt = make();
    const p = await rt.launch(nodeProgram('pidf', "console.error('hello from stderr'); process.stdin.on('end', () => process.exit(5)); process.stdin.resume();"));
    const file = path.join(fx.dataDir, 'run', 'pidf.main.pid');
    const data = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; startTime: string; command: string };
    expect(data.pid).toBe(p.pid);
    expect(data.startTime).toBe(readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
    expect(data.command).toMatch(/^node -e /);
    await waitForLog(fx.logs, 'pidf', /^hello from stderr$/);
    p.stdin.end();
    expect(await p.exited).toEqual({ code: 5, signal: null });
    expect(existsSync(file)).toBe(false);
    const lines = (await fx.logs.read('pidf')).map((e) => `${e.stream} ${e.line}`);
    expect(lines[0]).toMatch(new RegExp(`^system \\[main\\] started pid ${p.pid} .*node -e`));
    expect(lines).toContain('stderr hello from stderr');
    expect(lines.at(-1)).toBe(`system [main] exited with code 5 (pid ${p.pid})`);
  });

  it('resolves commands on PATH (npx) and refuses a second launch of the same instance', async () => {
    const rt = make();
    const p = await rt.launch({ deploymentId: 'npx', instanceKey: 'main', command: 'npx', args: ['--version'], env: {} });
    const version = await firstLine(p);
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    await p.exited;
    const q = await rt.launch(nodeProgram('dup', 'setInterval(() => {}, 1000);'));
    await expect(rt.launch(nodeProgram('dup', 'setInterval(() => {}, 1000);'))).rejects.toThrow(/already running/);
    await q.stop(100);
    await expect(rt.launch(nodeProgram('bad/id', ''))).rejects.toThrow(/invalid deploymentId/);
    await expect(rt.launch(nodeProgram('nocwd', '', { cwd: path.join(fx.dataDir, 'nope') }))).rejects.toThrow(/cwd .*nope does not exist/);
  });

  it('removes stale and unreadable pid files without killing anything', async () => {
    const rt = make();
    mkdirSync(path.join(fx.dataDir, 'run'), { recursive: true });
    // Our own pid with a wrong start time: a reused pid must not be killed.
    writeFileSync(path.join(fx.dataDir, 'run', 'x.main.pid'), JSON.stringify({ pid: process.pid, startTime: '1', command: 'x', deploymentId: 'x', instanceKey: 'main', sandbox: 'none' }));
    writeFileSync(path.join(fx.dataDir, 'run', 'y.main.pid'), 'garbage');
    expect(await rt.reapOrphans()).toEqual([]);
    expect(readdirSync(path.join(fx.dataDir, 'run'))).toEqual([]);
  });

  it('applies limits through prlimit when told to (the fallback without cgroups)', async () => {
    const rt = make({ limits: { mode: 'prlimit', nofile: 123, defaults: { pids: 456, memoryMb: 4096 } } });
    expect(rt.limitsEnforcedBy).toBe('prlimit');
    expect(rt.isolation({}).limits.unenforced).toContain('cpus');
    const p = await rt.launch(nodeProgram('lim', "process.stdout.write(require('fs').readFileSync('/proc/self/limits', 'utf8').replace(/\\n/g, '|') + '\\n');"));
    const limits = await firstLine(p);
    expect(limits).toMatch(/Max open files\s+123\s+123/);
    expect(limits).toMatch(/Max processes\s+456\s+456/);
    expect(limits).toMatch(new RegExp(`Max data size\\s+${4096 * 1024 * 1024}\\s+`));
  });
});

/** Reports what a server can see and touch; run with and without the sandbox. */
const PROBE = `
const fs = require('fs');
const out = {};
const tryRead = (p) => { try { return fs.readFileSync(p, 'utf8'); } catch (e) { return 'ERR:' + e.code; } };
const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'ok'; } catch (e) { return 'ERR:' + e.code; } };
out.other = tryRead(process.argv[1]);
out.runDir = (() => { try { return fs.readdirSync(process.argv[2]).length; } catch (e) { return 'ERR:' + e.code; } })();
out.root = fs.existsSync('/root');
out.shadow = tryRead('/etc/shadow').slice(0, 10);
out.usrWrite = tryWrite('/usr/berth-sandbox-probe');
out.cwdWrite = tryWrite('probe.txt');
out.homeWrite = tryWrite(require('path').join(process.env.HOME, 'probe.txt'));
out.tmpWrite = tryWrite(process.argv[3]);
out.pids = fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).length;
out.capEff = /CapEff:\\s*(\\w+)/.exec(tryRead('/proc/self/status'))[1];
process.stdout.write(JSON.stringify(out) + '\\n');
`;

describe.skipIf(!HAS_BWRAP)('bubblewrap sandbox', () => {
  let dataDir: string;
  const runtimes: ProcessRuntime[] = [];
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-bwrap-'));
  });
  afterEach(async () => {
    await Promise.all(runtimes.splice(0).map((r) => r.stopAll(200)));
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function probe(sandbox: 'none' | 'bubblewrap'): Promise<Record<string, unknown>> {
    const rt = new ProcessRuntime({ dataDir, logs: new MemoryLogStore(), sandbox, stopGraceMs: 500 });
    runtimes.push(rt);
    const secret = path.join(dataDir, 'work', 'other', 'secret.txt');
    mkdirSync(path.dirname(secret), { recursive: true });
    writeFileSync(secret, 'top secret');
    mkdirSync(path.join(dataDir, 'run'), { recursive: true });
    writeFileSync(path.join(dataDir, 'run', 'dummy'), '');
    const tmpFile = path.join(os.tmpdir(), `berth-probe-${process.pid}-${sandbox}`);
    const p = await rt.launch({ deploymentId: `probe-${sandbox}`, instanceKey: 'main', command: 'node', args: ['-e', PROBE, secret, path.join(dataDir, 'run'), tmpFile], env: {} });
    const result = JSON.parse(await firstLine(p)) as Record<string, unknown>;
    result.tmpLeaked = existsSync(tmpFile);
    rmSync(tmpFile, { force: true });
    rmSync('/usr/berth-sandbox-probe', { force: true });
    return result;
  }

  it('without the sandbox the probe sees everything (control for the next test)', async () => {
    const r = await probe('none');
    expect(r).toMatchObject({ other: 'top secret', root: true, cwdWrite: 'ok', homeWrite: 'ok', tmpWrite: 'ok', tmpLeaked: true });
    expect(r.runDir).toBeGreaterThan(0);
    if (process.getuid?.() === 0) expect(r.shadow).toMatch(/^root:/);
  });

  it('inside the sandbox: no other deployments, no Berth data, no /root, read-only system, private /tmp and pids', async () => {
    const r = await probe('bubblewrap');
    expect(r.other).toBe('ERR:ENOENT');
    expect(r.runDir).toBe('ERR:ENOENT');
    expect(r.root).toBe(false);
    expect(['', 'ERR:EACCES']).toContain(r.shadow); // masked with /dev/null (nodev mount)
    expect(r.usrWrite).toMatch(/^ERR:(EROFS|EACCES)$/);
    expect(r).toMatchObject({ cwdWrite: 'ok', homeWrite: 'ok', tmpWrite: 'ok', tmpLeaked: false });
    expect(r.pids).toBeLessThan(5);
    expect(r.capEff).toBe('0000000000000000');
    expect(existsSync(path.join(dataDir, 'work', 'probe-bubblewrap', 'probe.txt'))).toBe(true);
  });

  it('warns when an argument names a host file the sandboxed server cannot see, and runs it with --cwd', async () => {
    const logs = new MemoryLogStore();
    const outside = mkdtempSync(path.join(os.tmpdir(), 'berth-outside-'));
    const rt = new ProcessRuntime({ dataDir, logs, sandbox: 'bubblewrap', stopGraceMs: 500, mountRoots: [outside] });
    runtimes.push(rt);
    onTestFinished(() => rmSync(outside, { recursive: true, force: true }));
    const script = path.join(outside, 'server.mjs');
    writeFileSync(script, "process.stdout.write('ran\\n'); process.stdin.resume();");
    const hidden = await rt.launch({ deploymentId: 'hidden', instanceKey: 'main', command: 'node', args: [script], env: {} });
    expect((await hidden.exited).code).not.toBe(0);
    const lines = (await logs.read('hidden')).map((e) => e.line);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`warning: ${script.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is outside what the sandboxed server can see.*--cwd`)));
    const seen = await rt.launch({ deploymentId: 'seen', instanceKey: 'main', command: 'node', args: [script], env: {}, cwd: outside });
    expect(await firstLine(seen)).toBe('ran');
    expect((await logs.read('seen')).map((e) => e.line).filter((l) => l.includes('warning'))).toEqual([]);
  });

  it('runs `npx -y @modelcontextprotocol/server-everything` and answers initialize', { timeout: 180_000 }, async () => {
    const logs = new MemoryLogStore();
    const rt = new ProcessRuntime({ dataDir, logs, sandbox: 'bubblewrap', stopGraceMs: 2000 });
    runtimes.push(rt);
    const p = await rt.launch({ deploymentId: 'everything', instanceKey: 'main', command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'], env: {} });
    const reply = firstLine(p, 150_000);
    p.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'berth-test', version: '0' } } })}\n`);
    const msg = JSON.parse(await reply) as { id: number; result?: { serverInfo?: { name?: string } } };
    expect(msg.id).toBe(1);
    expect(msg.result?.serverInfo?.name).toBeTruthy();
    // npm's cache went to the private HOME.
    expect(existsSync(path.join(dataDir, 'work', 'everything', 'home', '.npm'))).toBe(true);
    const info = await p.stop();
    expect(info.signal === 'SIGKILL').toBe(false); // SIGTERM was enough
  });
});
