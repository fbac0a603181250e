import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { INSTALL_LOG_LINES, PackageCache, removeTree } from './cache.js';
import { NpmDriver } from './npm.js';
import { PypiDriver } from './pypi.js';
import { runTool, type ToolRun, type ToolRunner } from './run.js';
import { buildWheel, packNpmFixture } from './testing/fixtures.js';
import type { Entrypoint, PackageDriver } from './types.js';

const work = realpathSync(mkdtempSync(path.join(tmpdir(), 'berth-pkgcache-')));
afterAll(() => removeTree(work));
const env = { PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, HOME: path.join(work, 'home'), LANG: 'C.UTF-8' };

/** The real runner, counting what ran (the proof that a cache hit installs nothing). */
function counting(): { run: ToolRunner; calls: ToolRun[] } {
  const calls: ToolRun[] = [];
  return { calls, run: (r) => (calls.push(r), runTool(r)) };
}

/** Runs an entrypoint as a stdio server and calls its `whoami` tool. */
async function whoami(e: Entrypoint): Promise<{ argv: string[]; ppid: number; pid: number }> {
  const child = spawn(e.command, e.args, { env: { ...env, ...e.env }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  const answer = (id: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = (): boolean => {
        const hit = lines.map((l) => JSON.parse(l) as { id?: number; result: Record<string, unknown> }).find((m) => m.id === id);
        if (hit) resolve(hit.result);
        return Boolean(hit);
      };
      if (check()) return;
      child.stdout.on('data', () => void check());
      child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts.filter((p) => p.trim()));
  });
  try {
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })}\n`);
    await answer(1);
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } })}\n`);
    const r = (await answer(2)) as { content: { text: string }[] };
    return JSON.parse(r.content[0]!.text) as { argv: string[]; ppid: number; pid: number };
  } finally {
    child.kill();
  }
}

interface Case {
  registry: 'npm' | 'pypi';
  name: string;
  /** Publishes versions of the fixture into the driver's local source. */
  publish(version: string): void;
  driver(run: ToolRunner): PackageDriver;
  /** The runs that install (not resolve). */
  isInstall(r: ToolRun): boolean;
}

const npmLinks = path.join(work, 'npm-links');
const pyLinks = path.join(work, 'wheels');
const cases: Case[] = [
  {
    registry: 'npm',
    name: '@berth-test/tiny-mcp',
    publish: (v) => void packNpmFixture(npmLinks, '@berth-test/tiny-mcp', v),
    driver: (run) => new NpmDriver({ cacheDir: path.join(work, 'npm-cache'), env, run, findLinks: npmLinks }),
    isInstall: (r) => r.args[0] === 'install',
  },
  {
    registry: 'pypi',
    name: 'berth-tiny-mcp',
    publish: (v) => void buildWheel(pyLinks, 'berth-tiny-mcp', v),
    driver: (run) => new PypiDriver({ cacheDir: path.join(work, 'pip-cache'), toolsDir: path.join(work, 'pip-tools'), env, run, findLinks: pyLinks }),
    isInstall: (r) => r.args.includes('install'),
  },
];

describe.each(cases)('package cache with the $registry driver (a local source: no registry needed)', (c) => {
  c.publish('1.0.0');
  c.publish('1.1.0');
  const root = path.join(work, `cache-${c.registry}`);
  const { run, calls } = counting();
  const cache = new PackageCache({ root, drivers: [c.driver(run)], installTimeoutMs: 120_000, allowInstallScripts: false });
  const ref = { registry: c.registry, name: c.name, version: '1.1.0', installScripts: false };
  const log: string[] = [];

  it('pins an absent version to the newest one, and an exact one to itself', async () => {
    expect(await cache.pin({ registry: c.registry, name: c.name })).toBe('1.1.0');
    expect(await cache.pin({ registry: c.registry, name: c.name, version: '1.0.0' })).toBe('1.0.0');
  });

  it('installs once; three concurrent deploys share that install; the next one runs nothing at all', { timeout: 120_000 }, async () => {
    const before = calls.length;
    let announced = 0;
    const all = await Promise.all([1, 2, 3].map(() => cache.ensure(ref, { log: (l) => log.push(l), onInstall: () => announced++ })));
    expect(calls.slice(before).filter(c.isInstall)).toHaveLength(1);
    expect(announced).toBe(1);
    expect(new Set(all.map((r) => r.dir)).size).toBe(1);
    expect(all.filter((r) => r.installed)).toHaveLength(1);
    expect(cache.counts.installs).toBe(1);

    const after = calls.length;
    const again = await cache.ensure(ref, { log: (l) => log.push(l) });
    expect(calls.length).toBe(after); // no npm, pip or python process: nothing downloaded, nothing resolved
    expect(again.installed).toBe(false);
    expect(again.dir).toBe(all[0]!.dir);
    expect(log.join('\n')).toMatch(/is in the package cache .*nothing to download/);
    // Pinning an exact version that is cached asks no registry either.
    expect(await cache.pin({ registry: c.registry, name: c.name, version: '1.1.0' })).toBe('1.1.0');
    expect(calls.length).toBe(after);
  });

  it('names the entry by registry, name@version and the tree hash, and makes it read-only', async () => {
    const { dir, manifest } = (await cache.lookup(ref))!;
    expect(path.basename(dir)).toBe(`${c.registry === 'npm' ? '@berth-test+tiny-mcp' : 'berth-tiny-mcp'}@1.1.0-${manifest.digest.slice(0, 16)}`);
    expect(manifest.digest).toMatch(/^[0-9a-f]{64}$/);
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isSymbolicLink() ? [] : e.isDirectory() ? [path.join(d, e.name), ...walk(path.join(d, e.name))] : [path.join(d, e.name)]));
    const writable = [dir, ...walk(dir)].filter((p) => (statSync(p).mode & 0o222) !== 0);
    expect(writable).toEqual([]);
    expect(readdirSync(path.join(root, 'tmp'))).toEqual([]);
  });

  it('runs the executable directly from the entry: the server is the launched process itself, no npx or uvx between', { timeout: 30_000 }, async () => {
    const ready = await cache.ensure(ref, { log: () => {} });
    expect(path.basename(ready.entrypoint.command)).toBe(c.registry === 'npm' ? path.basename(process.execPath) : 'python');
    expect(ready.entrypoint.args[0]!.startsWith(`${ready.dir}/`)).toBe(true);
    const me = await whoami(ready.entrypoint);
    expect(me.ppid).toBe(process.pid);
    expect(me.argv.join(' ')).not.toMatch(/npx|uvx|npm-cli|pip/);
  });

  it('a different version is a different entry; installed under umask 077 (as Berth runs), it is still readable by every uid (containers run it as 10001)', { timeout: 120_000 }, async () => {
    const umask = process.umask(0o077);
    let other: Awaited<ReturnType<typeof cache.ensure>>;
    try {
      other = await cache.ensure({ ...ref, version: '1.0.0' }, { log: () => {} });
    } finally {
      process.umask(umask);
    }
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isSymbolicLink() ? [] : e.isDirectory() ? [path.join(d, e.name), ...walk(path.join(d, e.name))] : [path.join(d, e.name)]));
    const closed = [other.dir, ...walk(other.dir)].filter((p) => {
      const st = statSync(p);
      return (st.mode & 0o004) === 0 || (st.isDirectory() && (st.mode & 0o001) === 0);
    });
    expect(closed).toEqual([]);
    expect(other.installed).toBe(true);
    expect(other.dir).not.toBe((await cache.lookup(ref))!.dir);
    expect((await whoami(other.entrypoint)) ).toMatchObject({ version: '1.0.0' });
  });

  it('refuses install scripts unless the operator allows them, and a version the source does not have', async () => {
    await expect(cache.pin({ registry: c.registry, name: c.name, install_scripts: true })).rejects.toMatchObject({ code: 'PACKAGE_SCRIPTS_NOT_ALLOWED' });
    await expect(cache.ensure({ ...ref, installScripts: true }, { log: () => {} })).rejects.toMatchObject({ code: 'PACKAGE_SCRIPTS_NOT_ALLOWED' });
    if (c.registry === 'pypi') await expect(cache.pin({ registry: c.registry, name: c.name, version: '9.9.9' })).rejects.toMatchObject({ code: 'PACKAGE_NOT_FOUND' });
  });
});

describe('npm bins', () => {
  it('picks the bin named like the package, refuses to guess between others, and takes spec.bin', { timeout: 120_000 }, async () => {
    const links = path.join(work, 'multi-links');
    packNpmFixture(links, 'multi-bin', '2.0.0', ['alpha', 'beta']);
    const cache = new PackageCache({ root: path.join(work, 'cache-multi'), drivers: [new NpmDriver({ cacheDir: path.join(work, 'npm-cache'), env, run: runTool, findLinks: links })], installTimeoutMs: 120_000, allowInstallScripts: false });
    const ref = { registry: 'npm' as const, name: 'multi-bin', version: '2.0.0', installScripts: false };
    await expect(cache.ensure(ref, { log: () => {} })).rejects.toMatchObject({ code: 'PACKAGE_BIN_NOT_FOUND', message: expect.stringMatching(/alpha, beta.*spec\.bin/) });
    expect((await cache.ensure(ref, { bin: 'beta', log: () => {} })).bin).toBe('beta');
    await expect(cache.ensure(ref, { bin: 'gamma', log: () => {} })).rejects.toMatchObject({ code: 'PACKAGE_BIN_NOT_FOUND' });
    expect(cache.counts.installs).toBe(1);
  });

  it('an install that fails leaves no entry and no temp folder behind', { timeout: 60_000 }, async () => {
    const links = path.join(work, 'broken-links');
    packNpmFixture(links, 'broken-pkg', '1.0.0');
    // A tarball that is not one: npm fails to unpack it.
    writeFileSync(path.join(links, 'broken-pkg-1.0.0.tgz'), 'not a tarball');
    const root = path.join(work, 'cache-broken');
    const cache = new PackageCache({ root, drivers: [new NpmDriver({ cacheDir: path.join(work, 'npm-cache'), env, run: runTool, findLinks: links })], installTimeoutMs: 60_000, allowInstallScripts: false });
    await expect(cache.ensure({ registry: 'npm', name: 'broken-pkg', version: '1.0.0', installScripts: false }, { log: () => {} })).rejects.toMatchObject({ code: 'PACKAGE_INSTALL_FAILED' });
    expect(readdirSync(path.join(root, 'tmp'))).toEqual([]);
    expect(() => readdirSync(path.join(root, 'entries', 'npm'))).toThrow();
  });
});

describe('install output (a stand-in driver that fakes a chatty installer)', () => {
  it('passes at most INSTALL_LOG_LINES lines of one install to the deployment log, then says how many it dropped', async () => {
    const chatty: PackageDriver = {
      registry: 'npm',
      resolveVersion: async () => '1.0.0',
      install: async (_ref, ctx) => {
        for (let i = 0; i < 5000; i++) ctx.log(`line ${i}`);
        return { lock: 'x', bins: { chatty: 'bin.js' }, mounts: [] };
      },
      entrypoint: (m, dir) => ({ command: 'node', args: [path.join(dir, m.bins.chatty!)], env: {}, mounts: [dir] }),
    };
    const cache = new PackageCache({ root: path.join(work, 'cache-chatty'), drivers: [chatty], installTimeoutMs: 1000, allowInstallScripts: false });
    const log: string[] = [];
    await cache.ensure({ registry: 'npm', name: 'chatty', version: '1.0.0', installScripts: false }, { log: (l) => log.push(l) });
    expect(log.filter((l) => /^line /.test(l))).toHaveLength(INSTALL_LOG_LINES);
    expect(log).toContain(`… ${5000 - INSTALL_LOG_LINES} more install lines not shown`);
  });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));
