import { describe, expect, it } from 'vitest';
import type { DeploymentStatusView } from '../../src/api/contract.js';
import { hostHas } from '../../src/runtime/process/testing/host.js';
import { escapeSpec, toolCaller } from '../support/sandbox.js';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

/** Memory, pids and CPU limits of hosted servers, through a real Berth with real cgroups. */
const ok = hostHas('server limits (e2e)', ['bwrap', 'egress', 'cgroups']);
const ctx = useBerth({ env: { BERTH_SANDBOX: 'bubblewrap', BERTH_SERVER_MAX_MEMORY_MB: '2048' } });

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await get();
  while (!ok(last)) {
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
    last = await get();
  }
  return last;
}

describe.runIf(ok)('limits per hosted server', () => {
  it('a server that allocates past its memory limit is killed; status and logs say out of memory, and it comes back', async () => {
    const d = await ctx.api.deploy(escapeSpec('hog', { limits: { memory_mb: 128 } }));
    await ctx.api.waitFor(d.id);
    const before = await ctx.api.status(d.id);
    expect(before.limits).toMatchObject({ memory_mb: 128, pids: 256, cpus: 1, enforced_by: 'cgroup-v1' });
    const hog = await toolCaller(d.endpoint, ctx.berth.authHeaders());
    try {
      await expect(hog.call('allocate', { mb: 400 })).rejects.toThrow();
    } finally {
      await hog.close().catch(() => {});
    }
    const s = await until<DeploymentStatusView>('last_exit', () => ctx.api.status(d.id), (v) => v.last_exit !== null);
    // bwrap reports its child's SIGKILL as exit code 137.
    expect(s.last_exit).toMatchObject({ instance_key: 'main', exit: expect.stringMatching(/^(signal SIGKILL|code 137)$/), reason: 'out of memory: killed at the 128 MiB limit' });
    const logs = await ctx.api.call<{ items: { stream: string; line: string }[] }>('GET', `/api/deployments/${d.id}/logs?tail=100`);
    const lines = logs.body.items.filter((e) => e.stream === 'system').map((e) => e.line);
    expect(lines).toContainEqual(expect.stringMatching(/exited unexpectedly with (signal SIGKILL|code 137): out of memory: killed at the 128 MiB limit$/));
    const back = await ctx.api.waitFor(d.id, 'running');
    expect(back.restart_count).toBeGreaterThanOrEqual(1);
  });

  it('a fork bomb is held at its pids limit (bounded: 300 spawns) while Berth and other deployments keep answering', async () => {
    const calm = await ctx.api.deploy(echoSpec('calm'));
    const d = await ctx.api.deploy(escapeSpec('bomb', { limits: { pids: 64 } }));
    await ctx.api.waitFor(calm.id);
    await ctx.api.waitFor(d.id);
    const bomb = await toolCaller(d.endpoint, ctx.berth.authHeaders());
    const neighbour = await toolCaller(calm.endpoint, ctx.berth.authHeaders());
    try {
      const r = JSON.parse(await bomb.call('spawn_many', { count: 300 })) as { ok: number; failed: number };
      expect(r.ok).toBeLessThan(64);
      expect(r.failed).toBeGreaterThan(230);
      expect((await fetch(`${ctx.berth.url}/healthz`, { headers: ctx.berth.authHeaders() })).status).toBe(200);
      expect(await neighbour.call('echo', { text: 'still here' })).toBe('still here');
      expect((await ctx.api.status(d.id)).status).toBe('running');
    } finally {
      await bomb.close();
      await neighbour.close();
    }
    // Removing it ends every process of the bomb too.
    expect((await ctx.api.call('DELETE', `/api/deployments/${d.id}`)).status).toBe(200);
  });

  it('a busy server gets about the CPU it is allowed (loosely measured, not timed)', async () => {
    const d = await ctx.api.deploy(escapeSpec('busy', { limits: { cpus: 0.5 } }));
    await ctx.api.waitFor(d.id);
    const busy = await toolCaller(d.endpoint, ctx.berth.authHeaders());
    try {
      const { cores } = JSON.parse(await busy.call('burn', { ms: 2000, threads: 2 })) as { cores: number };
      console.log(`2 busy threads with limits.cpus 0.5 used ${cores.toFixed(2)} cores`);
      expect(cores).toBeLessThan(0.9); // without the limit: up to 2 on this 2-core machine
    } finally {
      await busy.close();
    }
  });

  it('refuses limits above the operator maximum, naming the setting', async () => {
    const r = await ctx.api.call<{ error: { code: string; message: string } }>('POST', '/api/deployments', escapeSpec('greedy', { limits: { memory_mb: 4096 } }));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('LIMIT_TOO_HIGH');
    expect(r.body.error.message).toMatch(/BERTH_SERVER_MAX_MEMORY_MB/);
  });
});
