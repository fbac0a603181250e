import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostHas } from '../../src/runtime/process/testing/host.js';
import { ROOT } from '../support/berth-process.js';
import { berthCli, endpointIn } from '../support/cli.js';
import { escapeSpec, toolCaller } from '../support/sandbox.js';
import { useBerth } from '../support/use-berth.js';

/** cwd and mounts are confined to BERTH_MOUNT_ROOTS and kept away from Berth's data; mounts make directory servers work. */
const roots = realpathSync(mkdtempSync(join(tmpdir(), 'berth-mount-roots-')));
const ok = hostHas('mounts (e2e)', ['bwrap', 'egress', 'cgroups']);
// The data dir sits inside a mount root, so its ancestors and descendants are reachable by a path under the root.
const dataDir = join(roots, 'berth-data');
mkdirSync(dataDir);
// Registered before useBerth's own hook, so it runs after Berth has stopped (after-hooks run last-in, first-out).
afterAll(() => rmSync(roots, { recursive: true, force: true }));
const ctx = useBerth({ dataDir, env: { BERTH_SANDBOX: 'bubblewrap', BERTH_MOUNT_ROOTS: `${ROOT},${roots}` } });

type ApiError = { error: { code: string; message: string } };

describe.runIf(ok)('mounts and working directories', () => {
  it('refuses at the API, with a stable code and how to fix it: "/", the data dir, above or inside it, outside the roots, host network', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'berth-not-a-root-'));
    mkdirSync(join(dataDir, 'inner'), { recursive: true });
    const cases: [string, Parameters<typeof escapeSpec>[1], string, RegExp][] = [
      ['cwd /', { cwd: '/' }, 'MOUNT_NOT_ALLOWED', /^cwd \/ is the root folder/],
      ['data dir', { mounts: [{ path: dataDir, mode: 'ro' }] }, 'MOUNT_NOT_ALLOWED', /overlaps Berth's own data/],
      ['above the data dir', { cwd: roots }, 'MOUNT_NOT_ALLOWED', /overlaps Berth's own data/],
      ['inside the data dir', { mounts: [{ path: join(dataDir, 'inner'), mode: 'rw' }] }, 'MOUNT_NOT_ALLOWED', /overlaps Berth's own data/],
      ['outside the roots', { mounts: [{ path: outside, mode: 'ro' }] }, 'MOUNT_NOT_ALLOWED', /not under an allowed mount root .*BERTH_MOUNT_ROOTS/],
      ['missing', { cwd: join(roots, 'nope') }, 'MOUNT_NOT_ALLOWED', /does not exist/],
      ['host network', { network: 'host' }, 'HOST_NETWORK_NOT_ALLOWED', /BERTH_SANDBOX_HOST_NETWORK=allow/],
      ['relative', { mounts: [{ path: 'data', mode: 'ro' }] }, 'VALIDATION_FAILED', /must be an absolute path/],
    ];
    try {
      for (const [what, spec, code, message] of cases) {
        const r = await ctx.api.call<ApiError>('POST', '/api/deployments', escapeSpec(`bad-${what.replace(/\W+/g, '-')}`, spec));
        expect([what, r.status, r.body.error.code]).toEqual([what, 400, code]);
        expect(r.body.error.message).toMatch(message);
      }
      const list = await ctx.api.call<{ items: unknown[] }>('GET', '/api/deployments');
      expect(list.body.items).toEqual([]); // nothing refused was stored
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('server-filesystem works with --mount DIR:rw (and fails without it); a plain --mount is read-only', { timeout: 240_000 }, async () => {
    const dir = join(roots, 'files');
    mkdirSync(dir);
    writeFileSync(join(dir, 'hello.txt'), 'hello from the host');
    const modules = join(ROOT, 'node_modules');
    const server = [process.execPath, join(modules, '@modelcontextprotocol/server-filesystem/dist/index.js'), dir];

    // Without the mount the server cannot see its folder: it exits, and Berth says why.
    const without = await berthCli(ctx.berth, ['deploy', '--name', 'fs-unmounted', '--timeout', '60', '--mount', modules, '--', ...server]);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/None of the specified directories are accessible/);
    expect(without.stderr).toContain(`${dir} is outside what the sandboxed server can see`);

    const rw = await berthCli(ctx.berth, ['deploy', '--name', 'fs', '--mount', modules, '--mount', `${dir}:rw`, '--', ...server]);
    expect(rw.code, rw.stderr).toBe(0);
    const fs = await toolCaller(endpointIn(rw.stdout), ctx.berth.authHeaders());
    try {
      expect(await fs.call('list_directory', { path: dir })).toContain('[FILE] hello.txt');
      expect(await fs.call('read_text_file', { path: join(dir, 'hello.txt') })).toBe('hello from the host');
      await fs.call('write_file', { path: join(dir, 'from-server.txt'), content: 'written in the sandbox' });
      expect(readFileSync(join(dir, 'from-server.txt'), 'utf8')).toBe('written in the sandbox');
    } finally {
      await fs.close();
    }

    const ro = await berthCli(ctx.berth, ['deploy', '--name', 'fs-ro', '--mount', modules, '--mount', dir, '--', ...server]);
    expect(ro.code, ro.stderr).toBe(0);
    const fsRo = await toolCaller(endpointIn(ro.stdout), ctx.berth.authHeaders());
    try {
      expect(await fsRo.call('read_text_file', { path: join(dir, 'hello.txt') })).toBe('hello from the host');
      await expect(fsRo.call('write_file', { path: join(dir, 'nope.txt'), content: 'x' })).rejects.toThrow(/read-only|EROFS/i);
      expect(existsSync(join(dir, 'nope.txt'))).toBe(false);
    } finally {
      await fsRo.close();
    }
    const status = await berthCli(ctx.berth, ['status', endpointIn(ro.stdout).split('/').at(-2)!]);
    expect(status.stdout).toMatch(new RegExp(`^sandbox:\\s+bubblewrap, network egress, mounts ${modules}:ro, ${dir}:ro$`, 'm'));
  });
});
