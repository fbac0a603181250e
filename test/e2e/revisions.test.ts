import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeploymentStatusView, DeploymentView, RevisionView } from '../../src/core/index.js';
import { berthCli } from '../support/cli.js';
import { connectV1, connectV2, textOf } from '../support/clients.js';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

const ctx = useBerth({ env: { BERTH_DRAIN_S: '5' } });


async function envThroughClient(endpoint: string, name: string, sdk = connectV2): Promise<string> {
  const client = await sdk(endpoint);
  try {
    return textOf(await client.call('env', { name }));
  } finally {
    await client.close();
  }
}

describe('revisions: update, history, rollback', () => {
  it('an update makes a new revision behind the same id, name and endpoint; rollback brings the old spec back as a newer revision', async () => {
    const d = await ctx.api.deploy(echoSpec('rev-basic', [], {}, { env: { REV: 'one' } }));
    await ctx.api.waitFor(d.id);
    expect(await envThroughClient(d.endpoint, 'REV')).toBe('one');

    const patched = await ctx.api.call<DeploymentView>('PATCH', `/api/deployments/${d.id}`, { spec: { env: { REV: 'two', EXTRA: 'x' } } });
    expect(patched.status).toBe(202);
    expect(patched.body).toMatchObject({ id: d.id, name: 'rev-basic', endpoint: d.endpoint, revision: 2 });
    const s2 = await ctx.api.settled(d.id);
    expect(s2).toMatchObject({ status: 'running', revision: 2, serving_revision: 2 });
    expect(await envThroughClient(d.endpoint, 'REV', connectV1)).toBe('two');
    expect(await envThroughClient(d.endpoint, 'EXTRA')).toBe('x');

    // A merge patch removes with null; only metadata changes make no revision.
    const meta = await ctx.api.call<DeploymentView>('PATCH', `/api/deployments/${d.id}`, { description: 'just words' });
    expect(meta.status).toBe(200);
    expect(meta.body.revision).toBe(2);
    const removed = await ctx.api.call<DeploymentView>('PATCH', `/api/deployments/rev-basic`, { spec: { env: { EXTRA: null } } });
    expect(removed.body.revision).toBe(3);
    await ctx.api.settled(d.id);
    expect(await envThroughClient(d.endpoint, 'EXTRA')).toBe('');

    const history = await ctx.api.call<{ items: RevisionView[] }>('GET', `/api/deployments/rev-basic/revisions`);
    expect(history.body.items.map((r) => [r.number, r.reason, r.current, r.serving])).toStrictEqual([
      [3, 'update', true, true],
      [2, 'update', false, false],
      [1, 'create', false, false],
    ]);

    const back = await ctx.api.call<DeploymentView>('POST', `/api/deployments/${d.id}/rollback`, { revision: 1 });
    expect(back.status).toBe(202);
    expect(back.body.revision).toBe(4);
    await ctx.api.settled(d.id);
    expect(await envThroughClient(d.endpoint, 'REV')).toBe('one');
    const after = await ctx.api.call<{ items: RevisionView[] }>('GET', `/api/deployments/${d.id}/revisions`);
    expect(after.body.items[0]).toMatchObject({ number: 4, reason: 'rollback', from_revision: 1, current: true, serving: true });
    expect((await ctx.api.call('POST', `/api/deployments/${d.id}/rollback`, { revision: 99 })).body).toMatchObject({ error: { code: 'REVISION_NOT_FOUND' } });
  });

  it('a new revision that cannot start leaves the old one serving, and says so', async () => {
    const d = await ctx.api.deploy(echoSpec('rev-bad', [], {}, { env: { REV: 'good' } }));
    await ctx.api.waitFor(d.id);
    const client = await connectV1(d.endpoint);
    try {
      const bad = await ctx.api.call<DeploymentView>('PATCH', `/api/deployments/${d.id}`, { spec: { args: ['-e', 'process.exit(7)'] } });
      expect(bad.status).toBe(202);
      const s = await ctx.api.settled(d.id);
      expect(s).toMatchObject({ status: 'running', revision: 2, serving_revision: 1 });
      expect(s.status_message).toMatch(/revision 2 failed to start: .*revision 1 still serving/);
      // The session opened before the update still works, and so does a new one.
      expect(textOf(await client.call('env', { name: 'REV' }))).toBe('good');
      expect(await envThroughClient(d.endpoint, 'REV')).toBe('good');
    } finally {
      await client.close();
    }
  });

  it('the CLI updates, shows history and rolls back by name', async () => {
    const d = await ctx.api.deploy(echoSpec('rev-cli', [], {}, { env: { REV: 'a' } }));
    await ctx.api.waitFor(d.id);
    const up = await berthCli(ctx.berth, ['update', 'rev-cli', '-e', 'REV=b', '--timeout', '60']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/revision 2 of rev-cli serves/);
    expect(await envThroughClient(d.endpoint, 'REV')).toBe('b');
    const hist = await berthCli(ctx.berth, ['history', 'rev-cli']);
    expect(hist.code).toBe(0);
    expect(hist.stdout).toMatch(/^2\s+serving\s+update/m);
    expect(hist.stdout).toMatch(/^1\s+create/m);
    const rb = await berthCli(ctx.berth, ['rollback', 'rev-cli']);
    expect(rb.code, rb.stderr).toBe(0);
    expect(await envThroughClient(d.endpoint, 'REV')).toBe('a');
    const json = await berthCli(ctx.berth, ['history', 'rev-cli', '--json']);
    expect((JSON.parse(json.stdout) as RevisionView[]).map((r) => r.reason)).toStrictEqual(['rollback', 'update', 'create']);
    const redeploy = await berthCli(ctx.berth, ['redeploy', 'rev-cli']);
    expect(redeploy.code, redeploy.stderr).toBe(0);
    expect((await ctx.api.status(d.id)).serving_revision).toBe(4);
  });
});

describe('names and idempotent creates', () => {
  it('names are unique; a name works wherever an id does', async () => {
    const d = await ctx.api.deploy(echoSpec('unique-name', [], { start: false }));
    const again = await ctx.api.call<{ error: { code: string } }>('POST', '/api/deployments', echoSpec('unique-name', [], { start: false }));
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('NAME_TAKEN');
    expect((await ctx.api.call<DeploymentView>('GET', '/api/deployments/unique-name')).body.id).toBe(d.id);
    expect((await ctx.api.call<DeploymentStatusView>('GET', '/api/deployments/unique-name/status')).body).toMatchObject({ id: d.id, name: 'unique-name', status: 'stopped' });
    const renamed = await ctx.api.call<DeploymentView>('PATCH', '/api/deployments/unique-name', { name: 'renamed-one' });
    expect(renamed.body).toMatchObject({ id: d.id, name: 'renamed-one', revision: 1 });
    expect((await ctx.api.call('GET', '/api/deployments/unique-name')).status).toBe(404);
    expect((await ctx.api.call('DELETE', '/api/deployments/renamed-one')).status).toBe(200);
    // A deleted deployment's name is free again.
    expect((await ctx.api.call('POST', '/api/deployments', { ...echoSpec('renamed-one', [], { start: false }), access: 'public' })).status).toBe(201);
  });

  it('POST with an Idempotency-Key creates once: a retry, even after the client gave up waiting, gets the same deployment', async () => {
    const body = JSON.stringify({ ...echoSpec('idem-one', [], { start: false }), access: 'public' });
    const headers = { ...ctx.berth.authHeaders(), 'content-type': 'application/json', 'idempotency-key': 'key-1' };
    // The client gives up at once: its connection is closed as soon as the request is written, so the answer is
    // never read (deterministic, unlike a 1 ms timeout that a fast answer can beat on a busy machine).
    const gaveUp = await new Promise<string>((resolve) => {
      const req = request(`${ctx.berth.url}/api/deployments`, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } });
      req.on('error', (err) => resolve(err.message));
      req.on('response', () => resolve('answered'));
      req.on('finish', () => req.destroy());
      req.end(body);
    });
    expect(gaveUp).not.toBe('answered');
    let retry: Response;
    for (;;) {
      retry = await fetch(`${ctx.berth.url}/api/deployments`, { method: 'POST', headers, body });
      if (retry.status !== 409) break; // still being processed: a client retries
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(retry.status).toBe(201);
    const first = (await retry.json()) as DeploymentView;
    const third = await fetch(`${ctx.berth.url}/api/deployments`, { method: 'POST', headers, body });
    expect(third.status).toBe(201);
    expect(third.headers.get('idempotent-replayed')).toBe('true');
    expect(((await third.json()) as DeploymentView).id).toBe(first.id);
    const list = (await ctx.api.call<{ items: DeploymentView[] }>('GET', '/api/deployments')).body.items;
    expect(list.filter((x) => x.name === 'idem-one')).toHaveLength(1);

    const other = await fetch(`${ctx.berth.url}/api/deployments`, { method: 'POST', headers, body: JSON.stringify({ ...echoSpec('idem-two', [], { start: false }) }) });
    expect(other.status).toBe(422);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });
});

describe('the controller', () => {
  it('rm removes the work folder and the logs; --keep-logs keeps the logs', async () => {
    // No cwd: each gets a work folder of its own under the data dir; the fixture is seen through a mount.
    const spec = (name: string) => echoSpec(name, [], {}, { cwd: undefined, mounts: [{ path: process.cwd(), mode: 'ro' }] });
    const a = await ctx.api.deploy(spec('rm-clean'));
    const b = await ctx.api.deploy(spec('rm-keep'));
    await ctx.api.waitFor(a.id);
    await ctx.api.waitFor(b.id);
    const work = (id: string) => join(ctx.berth.dataDir, 'work', id);
    const log = (id: string) => join(ctx.berth.dataDir, 'logs', `${id}.log`);
    expect(existsSync(work(a.id)) && existsSync(log(a.id))).toBe(true);
    const rm = await berthCli(ctx.berth, ['rm', 'rm-clean']);
    expect(rm.code, rm.stderr).toBe(0);
    const keep = await berthCli(ctx.berth, ['rm', 'rm-keep', '--keep-logs']);
    expect(keep.code, keep.stderr).toBe(0);
    expect(existsSync(work(a.id))).toBe(false);
    expect(existsSync(log(a.id))).toBe(false);
    expect(existsSync(work(b.id))).toBe(false);
    expect(existsSync(log(b.id))).toBe(true);
    const kept = await ctx.api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${b.id}/logs`);
    expect(kept.body.items.some((e) => /ready: /.test(e.line))).toBe(true);
  });

  it('a failed deployment is retried with a growing backoff, and restart retries it at once', async () => {
    const d = await ctx.api.deploy({ name: 'retry-me', spec: { type: 'process', command: process.execPath, args: ['-e', 'process.exit(2)'], env: {} } });
    const first = await ctx.api.waitFor(d.id, 'failed', 30_000);
    expect(first.status_message).toMatch(/retry 1 in 5s/);
    // Without anyone asking, it is tried again (and fails again, now with a longer wait).
    const deadline = Date.now() + 30_000;
    let s = first;
    while (!/retry 2 in 10s/.test(s.status_message ?? '') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      s = await ctx.api.status(d.id);
    }
    expect(s.status_message).toMatch(/retry 2 in 10s/);
    // Fix it with an update: the new revision starts at once, whatever the backoff says.
    const fixed = await ctx.api.call<DeploymentView>('PATCH', `/api/deployments/${d.id}`, { spec: { args: [join(process.cwd(), 'src/mcp/testing/mcp-echo-server.mjs')], cwd: process.cwd() } });
    expect(fixed.status).toBe(202);
    const up = await ctx.api.waitFor(d.id, 'running', 30_000);
    expect(up.serving_revision).toBe(2);
    // restart: fresh processes on the same revision.
    const before = await envThroughClient(d.endpoint, 'REV');
    expect(before).toBe('');
    const r = await ctx.api.call<DeploymentView>('POST', `/api/deployments/${d.id}/restart`);
    expect(r.status).toBe(202);
    const after = await ctx.api.settled(d.id);
    expect(after).toMatchObject({ status: 'running', serving_revision: 2 });
  });
});
