import { existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeploymentView, PackageSpec } from '../../src/core/index.js';
import { buildWheel, packNpmFixture } from '../../src/packages/testing/fixtures.js';
import { hostHas } from '../../src/runtime/process/testing/host.js';
import { berthCli } from '../support/cli.js';
import { toolCaller, type ToolCaller } from '../support/sandbox.js';
import { useBerth } from '../support/use-berth.js';

/**
 * Package deployments through Berth's API: installed once into the shared read-only cache, run
 * directly (no npx), invisible to writes from the sandbox, and not installed again by a second
 * deployment. The tiny packages come from a folder of `npm pack` tarballs and a folder of wheels
 * (BERTH_NPM_FIND_LINKS / BERTH_PYPI_FIND_LINKS); one test installs a real server from the npm registry.
 */
const sources = realpathSync(mkdtempSync(join(tmpdir(), 'berth-pkg-sources-')));
const npmLinks = join(sources, 'npm');
const wheels = join(sources, 'wheels');
const NPM_PKG = '@berth-test/tiny-mcp';
const PY_PKG = 'berth-tiny-mcp';
for (const v of ['1.0.0', '1.1.0', '2.0.0']) packNpmFixture(npmLinks, NPM_PKG, v);
buildWheel(wheels, PY_PKG, '0.3.0');
afterAll(() => rmSync(sources, { recursive: true, force: true }));

const ok = hostHas('packages (e2e)', ['bwrap', 'egress', 'cgroups']);
const ctx = useBerth({ env: { BERTH_SANDBOX: 'bubblewrap', BERTH_NPM_FIND_LINKS: npmLinks, BERTH_PYPI_FIND_LINKS: wheels } });

const cacheDir = () => join(ctx.berth.dataDir, 'packages');
/** npm writes one debug log per run into its cache's _logs: npm's own count of what it ran. */
const npmRuns = (): string[] => {
  const dir = join(cacheDir(), 'npm-cache', '_logs');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.log')).map((f) => readFileSync(join(dir, f), 'utf8')) : [];
};
const installs = (runs: string[]) => runs.filter((l) => /argv "install"/.test(l)).length;
const entries = (registry: string) => (existsSync(join(cacheDir(), 'entries', registry)) ? readdirSync(join(cacheDir(), 'entries', registry)) : []);
const logOf = async (id: string) => (await ctx.api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${id}/logs?tail=200`)).body.items.map((e) => e.line).join('\n');

function pkg(name: string, spec: Partial<PackageSpec> & Pick<PackageSpec, 'registry' | 'name'>) {
  return { name, spec: { type: 'package' as const, network: 'none' as const, ...spec } };
}

/** Host processes whose command line contains `needle`, and the command lines of their process groups. */
function processGroupsOf(needle: string): { pids: number[]; groups: string[] } {
  const pids: number[] = [];
  const pgids = new Set<string>();
  const all = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  const cmd = (p: string) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      return '';
    }
  };
  const pgid = (p: string) => {
    try {
      return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]!;
    } catch {
      return '';
    }
  };
  for (const p of all) {
    if (cmd(p).includes(needle) && !cmd(p).startsWith('bwrap')) {
      pids.push(Number(p));
      pgids.add(pgid(p));
    }
  }
  return { pids, groups: all.filter((p) => pgids.has(pgid(p))).map(cmd) };
}

async function caller(d: DeploymentView): Promise<ToolCaller> {
  return toolCaller(d.endpoint, ctx.api.authHeaders());
}

describe.runIf(ok)('package deployments', () => {
  let first: DeploymentView;
  let entry: string;

  it('pins the version at deploy, installs into the cache, and runs the bin with node directly: no npx in the process tree', { timeout: 120_000 }, async () => {
    const before = installs(npmRuns());
    first = await ctx.api.deploy(pkg('tiny-a', { registry: 'npm', name: NPM_PKG }));
    expect((first.spec as PackageSpec).version).toBe('2.0.0'); // the newest, recorded in the stored spec
    await ctx.api.waitFor(first.id);
    expect(installs(npmRuns()) - before).toBe(1);
    expect(entries('npm')).toHaveLength(1);
    entry = join(cacheDir(), 'entries', 'npm', entries('npm')[0]!);
    expect(entries('npm')[0]).toMatch(/^@berth-test\+tiny-mcp@2\.0\.0-[0-9a-f]{16}$/);
    expect(await logOf(first.id)).toMatch(/installing @berth-test\/tiny-mcp@2\.0\.0 from npm into the package cache/);

    const c = await caller(first);
    try {
      const me = JSON.parse(await c.call('whoami')) as { argv: string[]; version: string };
      expect(me.version).toBe('2.0.0');
      expect(me.argv[1]).toBe(join(entry, 'node_modules/@berth-test/tiny-mcp/server.mjs'));
      const tree = processGroupsOf(join(entry, 'node_modules'));
      expect(tree.pids.length).toBeGreaterThan(0);
      expect(tree.groups.join('\n')).not.toMatch(/\bnpx\b|npm-cli|npm exec/);
    } finally {
      await c.close();
    }
  });

  it('the server cannot write into the cache entry (read-only in the sandbox); its HOME stays its own and writable', { timeout: 60_000 }, async () => {
    const c = await caller(first);
    try {
      const target = join(entry, 'node_modules/@berth-test/tiny-mcp/planted.txt');
      await expect(c.call('write', { path: target })).rejects.toThrow(/EROFS|EACCES/);
      await expect(c.call('write', { path: join(entry, 'planted.txt') })).rejects.toThrow(/EROFS|EACCES/);
      expect(existsSync(target)).toBe(false);
      expect(await c.call('write', { path: join(ctx.berth.dataDir, 'work', first.id, 'home', 'ok.txt') })).toBe('written');
    } finally {
      await c.close();
    }
  });

  it('a second deployment of the same package downloads nothing: npm does not run at all', { timeout: 60_000 }, async () => {
    const runsBefore = npmRuns().length;
    const t0 = Date.now();
    const second = await ctx.api.deploy(pkg('tiny-b', { registry: 'npm', name: NPM_PKG, version: '2.0.0' }));
    await ctx.api.waitFor(second.id);
    const ms = Date.now() - t0;
    expect(npmRuns().length).toBe(runsBefore);
    expect(entries('npm')).toHaveLength(1);
    const log = await logOf(second.id);
    expect(log).toMatch(/is in the package cache .*nothing to download/);
    expect(log).not.toMatch(/installing/);
    const c = await caller(second);
    try {
      expect(JSON.parse(await c.call('whoami'))).toMatchObject({ version: '2.0.0' });
    } finally {
      await c.close();
    }
    console.log(`second deployment of ${NPM_PKG}@2.0.0: ${ms} ms from POST to running, 0 npm runs`);
  });

  it('three deployments of a new version posted at once install it once', { timeout: 120_000 }, async () => {
    const before = installs(npmRuns());
    const ds = await Promise.all(['c1', 'c2', 'c3'].map((n) => ctx.api.deploy(pkg(`tiny-${n}`, { registry: 'npm', name: NPM_PKG, version: '1.0.0' }))));
    await Promise.all(ds.map((d) => ctx.api.waitFor(d.id)));
    expect(installs(npmRuns()) - before).toBe(1);
    expect(entries('npm').filter((e) => e.includes('@1.0.0-'))).toHaveLength(1);
    const logs = await Promise.all(ds.map((d) => logOf(d.id)));
    expect(logs.filter((l) => /installing @berth-test\/tiny-mcp@1\.0\.0/.test(l))).toHaveLength(1);
  });

  it('berth deploy -- npx -y PKG@VER is recognised and says what it does', { timeout: 60_000 }, async () => {
    const r = await berthCli(ctx.berth, ['deploy', '--name', 'tiny-cli', '--', 'npx', '-y', `${NPM_PKG}@1.1.0`, '--some-arg']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Running ${NPM_PKG}@1.1.0 from the package cache (no npx)`);
    const list = await ctx.api.call<{ items: DeploymentView[] }>('GET', '/api/deployments');
    const d = list.body.items.find((x) => x.name === 'tiny-cli')!;
    expect(d.spec).toMatchObject({ type: 'package', registry: 'npm', name: NPM_PKG, version: '1.1.0', args: ['--some-arg'] });
  });

  it('a PyPI package runs from its venv in the cache, with the venv\'s python and no uvx; the entry is read-only', { timeout: 120_000 }, async () => {
    const d = await ctx.api.deploy(pkg('tiny-py', { registry: 'pypi', name: PY_PKG }));
    expect((d.spec as PackageSpec).version).toBe('0.3.0');
    await ctx.api.waitFor(d.id);
    const [name] = entries('pypi');
    expect(name).toMatch(/^berth-tiny-mcp@0\.3\.0-[0-9a-f]{16}$/);
    const venv = join(cacheDir(), 'entries', 'pypi', name!);
    const c = await caller(d);
    try {
      const me = JSON.parse(await c.call('whoami')) as { argv: string[]; executable: string };
      expect(me.argv[0]).toBe(join(venv, 'bin', PY_PKG));
      expect(me.executable).toBe(join(venv, 'bin', 'python'));
      expect(processGroupsOf(join(venv, 'bin')).groups.join('\n')).not.toMatch(/\buvx?\b|pip/);
      await expect(c.call('write', { path: join(venv, 'planted.txt') })).rejects.toThrow(/EROFS|EACCES/);
    } finally {
      await c.close();
    }
  });

  it('refuses with stable codes: an unknown package, install scripts, a bad name', { timeout: 60_000 }, async () => {
    const missing = await ctx.api.call<{ error: { code: string } }>('POST', '/api/deployments', pkg('nope', { registry: 'pypi', name: 'no-such-berth-package' }));
    expect([missing.status, missing.body.error.code]).toEqual([400, 'PACKAGE_NOT_FOUND']);
    const scripts = await ctx.api.call<{ error: { code: string } }>('POST', '/api/deployments', pkg('s', { registry: 'npm', name: NPM_PKG, install_scripts: true }));
    expect([scripts.status, scripts.body.error.code]).toEqual([400, 'PACKAGE_SCRIPTS_NOT_ALLOWED']);
    const bad = await ctx.api.call<{ error: { code: string } }>('POST', '/api/deployments', pkg('b', { registry: 'npm', name: '../../etc' }));
    expect([bad.status, bad.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('installs a real server from the npm registry and an SDK client calls its tool', { timeout: 180_000 }, async () => {
    const d = await ctx.api.deploy({
      name: 'memory',
      // The server writes its store next to its code by default: that is the read-only cache, so point it at the sandbox's /tmp.
      spec: { type: 'package', registry: 'npm', name: '@modelcontextprotocol/server-memory', env: { MEMORY_FILE_PATH: '/tmp/memory.jsonl' } },
    });
    await ctx.api.waitFor(d.id, 'running', 150_000);
    const c = await caller(d);
    try {
      await c.call('create_entities', { entities: [{ name: 'berth', entityType: 'project', observations: ['runs MCP servers'] }] });
      expect(await c.call('read_graph')).toContain('runs MCP servers');
    } finally {
      await c.close();
    }
  });
});
