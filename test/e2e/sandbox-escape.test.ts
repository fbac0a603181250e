import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostHas } from '../../src/runtime/process/testing/host.js';
import { ROOT } from '../support/berth-process.js';
import { escapeSpec, externalAddress, greeter, portOf, publicListener, toolCaller, type PublicListener, type ToolCaller } from '../support/sandbox.js';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

/**
 * A hostile server deployed through a real Berth (listening on every interface, with a token) tries
 * to read Berth's data and its neighbours', to write outside its folder, and to reach Berth and other
 * servers on the host's loopback and external address. Every attempt must fail; controls show the
 * targets are really there.
 */
const roots = realpathSync(mkdtempSync(join(tmpdir(), 'berth-escape-roots-')));
const ok = hostHas('sandbox escape attempts (e2e)', ['bwrap', 'egress', 'cgroups']);
afterAll(() => rmSync(roots, { recursive: true, force: true })); // runs after Berth has stopped (hooks: last in, first out)
const ctx = useBerth({ env: { BERTH_HOST: '0.0.0.0', BERTH_MOUNT_ROOTS: `${ROOT},${roots}`, BERTH_SANDBOX: 'bubblewrap', BERTH_SANDBOX_HOST_NETWORK: 'allow' } });

describe.runIf(ok)('a hostile server in the sandbox', () => {
  const external = externalAddress();
  let attacker: ToolCaller;
  let control: ToolCaller;
  let victimId: string;
  let attackerId: string;
  let onLoopback: Server;
  let onExternal: Server;
  let publicOne: PublicListener | null = null;
  const secret = 'neighbour-secret-4711';

  beforeAll(async () => {
    // A neighbour with something in its workspace, and Berth's key file where the secrets work keeps it.
    const victim = await ctx.api.deploy(echoSpec('victim'));
    victimId = victim.id;
    await ctx.api.waitFor(victim.id);
    mkdirSync(join(ctx.berth.dataDir, 'work', victim.id, 'home'), { recursive: true });
    writeFileSync(join(ctx.berth.dataDir, 'work', victim.id, 'home', 'secret.txt'), secret);
    writeFileSync(join(ctx.berth.dataDir, 'master.key'), 'not-a-real-key');
    onLoopback = await greeter('127.0.0.1', 'loopback-service');
    onExternal = await greeter(external, 'lan-service');

    const a = await ctx.api.deploy(escapeSpec('attacker'));
    const c = await ctx.api.deploy(escapeSpec('control', { network: 'host' }));
    attackerId = a.id;
    await ctx.api.waitFor(a.id);
    await ctx.api.waitFor(c.id);
    attacker = await toolCaller(a.endpoint, ctx.berth.authHeaders());
    control = await toolCaller(c.endpoint, ctx.berth.authHeaders());
  });
  afterAll(async () => {
    await attacker?.close();
    await control?.close();
    onLoopback?.close();
    onExternal?.close();
    publicOne?.close();
  });

  it("cannot read Berth's database, key file, logs or another deployment's workspace", async () => {
    const data = ctx.berth.dataDir;
    for (const p of [join(data, 'berth.db'), join(data, 'master.key'), join(data, 'work', victimId, 'home', 'secret.txt')]) {
      expect([p, await attacker.call('read_file', { path: p })]).toEqual([p, 'ERR:ENOENT']);
    }
    // Only the skeleton leading to its own work folder exists in the sandbox.
    expect(await attacker.call('list_dir', { path: data })).toBe('work');
    expect(await attacker.call('list_dir', { path: join(data, 'work') })).toBe(attackerId);
    expect(await attacker.call('list_dir', { path: '/root' })).toBe('ERR:ENOENT');
    // The control (same sandbox rules, host network) proves the files are there to be found.
    expect(await control.call('read_file', { path: '/etc/hostname' })).not.toMatch(/^ERR/);
  });

  it('cannot write outside its own folder: not /etc, /usr, the mounted checkout or a neighbour', async () => {
    const targets = ['/etc/berth-escape', '/usr/berth-escape', join(ROOT, 'berth-escape'), join(ctx.berth.dataDir, 'work', victimId, 'home', 'pwned')];
    for (const p of targets) expect([p, await attacker.call('write_file', { path: p, text: 'x' })]).toEqual([p, expect.stringMatching(/^ERR:(EROFS|EACCES|ENOENT)$/)]);
    expect(await attacker.call('write_file', { path: 'mine.txt', text: 'x' })).toBe('ok'); // its own work folder
  });

  it("cannot reach Berth's API or another server, on the host's loopback or its external address", async () => {
    const http = 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n';
    const berthPort = ctx.berth.port;
    // Controls: the host network reaches all of them.
    expect(await control.call('connect', { host: '127.0.0.1', port: berthPort, send: http })).toMatch(/^connected:HTTP\/1\.[01] 200/);
    // On the external address Berth answers too, and refuses a loopback Host name there (it arrived on a network socket).
    expect(await control.call('connect', { host: external, port: berthPort, send: http })).toMatch(/^connected:HTTP\/1\.[01] 403 Forbidden/);
    expect(await control.call('connect', { host: '127.0.0.1', port: portOf(onLoopback) })).toBe('connected');
    expect(await control.call('connect', { host: external, port: portOf(onExternal) })).toBe('connected');

    // 127.0.0.1 is the sandbox's own loopback, with nothing on it.
    expect(await attacker.call('connect', { host: '127.0.0.1', port: berthPort, send: http })).toBe('ERR:ECONNREFUSED');
    expect(await attacker.call('connect', { host: '127.0.0.1', port: portOf(onLoopback) })).toBe('ERR:ECONNREFUSED');
    // The host's own address, and slirp's gateway to the host, are prohibited routes.
    for (const [host, port] of [
      [external, berthPort],
      [external, portOf(onExternal)],
      ['10.0.2.2', berthPort],
      ['10.0.2.2', portOf(onLoopback)],
    ] as const) {
      expect([host, port, await attacker.call('connect', { host, port, send: http })]).toEqual([host, port, 'ERR:EACCES']);
    }
  });

  it('refuses mounts that lead to Berth\'s data through a symlink, and a cwd of "/"', async () => {
    symlinkSync(ctx.berth.dataDir, join(roots, 'data-link'));
    const viaLink = await ctx.api.call<{ error: { code: string; message: string } }>('POST', '/api/deployments', escapeSpec('sneaky', { mounts: [{ path: join(roots, 'data-link'), mode: 'ro' }] }));
    expect(viaLink.status).toBe(400);
    expect(viaLink.body.error.code).toBe('MOUNT_NOT_ALLOWED');
    const slash = await ctx.api.call<{ error: { code: string } }>('POST', '/api/deployments', escapeSpec('slash', { cwd: '/' }));
    expect([slash.status, slash.body.error.code]).toEqual([400, 'MOUNT_NOT_ALLOWED']);
  });

  it(
    'egress works: a listener on a non-private address answers through slirp (a throwaway network namespace on TEST-NET-2 stands in for the internet, which cannot be reached from here)',
    async () => {
      publicOne = await publicListener('public-service');
      expect(await attacker.call('connect', { host: publicOne.address, port: publicOne.port })).toBe('connected');
      expect(await attacker.call('connect', { host: publicOne.address, port: publicOne.port, send: 'hi\n' })).toBe('connected:public-service');
      // The same address is no route at all for a server with network "none".
      const d = await ctx.api.deploy(escapeSpec('offline', { network: 'none' }));
      await ctx.api.waitFor(d.id);
      const offline = await toolCaller(d.endpoint, ctx.berth.authHeaders());
      try {
        expect(await offline.call('connect', { host: publicOne.address, port: publicOne.port })).toBe('ERR:ENETUNREACH');
      } finally {
        await offline.close();
      }
    },
  );

  it('status says what applies', async () => {
    const list = await ctx.api.call<{ items: { id: string; name: string }[] }>('GET', '/api/deployments');
    const id = list.body.items.find((d) => d.name === 'attacker')!.id;
    const s = await ctx.api.status(id);
    expect(s.sandbox).toEqual({ kind: 'bubblewrap', network: 'egress', network_enforced: true, mounts: [{ path: ROOT, mode: 'ro' }], warning: null });
    expect(s.limits).toEqual({ memory_mb: 512, pids: 256, cpus: 1, enforced_by: 'cgroup-v1', unenforced: [] });
  });
});
