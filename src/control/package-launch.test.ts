import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PackageSpecSchema } from '../core/index.js';
import { NpmDriver, PackageCache, removeTree, runTool } from '../packages/index.js';
import { buildWheel, packNpmFixture } from '../packages/testing/fixtures.js';
import { PypiDriver } from '../packages/pypi.js';
import { packageLaunch, pinPackageSpec } from './package-launch.js';

const work = realpathSync(mkdtempSync(path.join(tmpdir(), 'berth-pkglaunch-')));
afterAll(() => removeTree(work));
const links = path.join(work, 'links');
const wheels = path.join(work, 'wheels');
packNpmFixture(links, 'tiny-launch', '3.1.4');
buildWheel(wheels, 'tiny-launch-py', '0.1.0');
const env = { PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, HOME: path.join(work, 'home') };
const cache = new PackageCache({
  root: path.join(work, 'cache'),
  drivers: [new NpmDriver({ cacheDir: path.join(work, 'npm-cache'), env, run: runTool, findLinks: links }), new PypiDriver({ cacheDir: path.join(work, 'pip-cache'), toolsDir: path.join(work, 'pip-tools'), env, run: runTool, findLinks: wheels })],
  installTimeoutMs: 120_000,
  allowInstallScripts: false,
});

describe('packageLaunch', () => {
  it('pins the version, shows "installing …" while it installs (only then), and gives node + the bin + the spec args, with the entry to mount', { timeout: 60_000 }, async () => {
    const spec = await pinPackageSpec(PackageSpecSchema.parse({ type: 'package', registry: 'npm', name: 'tiny-launch', args: ['--flag', 'x'] }), cache);
    expect(spec.version).toBe('3.1.4');
    const progress: string[] = [];
    const log: string[] = [];
    const launch = await packageLaunch(spec, { cache, log: (l) => log.push(l), progress: (m) => progress.push(m) });
    expect(progress).toEqual(['installing tiny-launch@3.1.4…']);
    expect(launch.command).toBe(process.execPath);
    const [entry] = launch.internalMounts;
    expect(launch.args).toEqual([path.join(entry!, 'node_modules/tiny-launch/server.mjs'), '--flag', 'x']);
    expect(log.join('\n')).toMatch(/running tiny-launch of tiny-launch@3\.1\.4 from the package cache/);

    const again: string[] = [];
    await packageLaunch(spec, { cache, log: () => {}, progress: (m) => again.push(m) });
    expect(again).toEqual([]);

    // In a container the image's node runs the same bin from the mounted entry (the host's node path is not there).
    const boxed = await packageLaunch(spec, { cache, log: () => {}, progress: () => {}, inContainer: true });
    expect(boxed).toMatchObject({ command: 'node', args: launch.args, internalMounts: launch.internalMounts });
  });

  it('a pypi package runs its console script with the venv\'s python, which writes no bytecode into the cache', { timeout: 60_000 }, async () => {
    const spec = await pinPackageSpec(PackageSpecSchema.parse({ type: 'package', registry: 'pypi', name: 'tiny-launch-py' }), cache);
    const launch = await packageLaunch(spec, { cache, log: () => {}, progress: () => {} });
    const [entry] = launch.internalMounts;
    expect(launch.command).toBe(path.join(entry!, 'bin', 'python'));
    expect(launch.args).toEqual([path.join(entry!, 'bin', 'tiny-launch-py')]);
    expect(launch.env).toEqual({ PYTHONDONTWRITEBYTECODE: '1' });
  });
});
