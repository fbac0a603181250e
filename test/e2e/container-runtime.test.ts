/**
 * The container runtime end to end: a real Berth process, real Podman (Docker Engine API), an image built here
 * FROM the local base image with a small MCP server of ours (test/fixtures/container-mcp-server.mjs), called
 * through the gateway with the SDK client. A stdio image behind the bridge, an http image, a memory-limit kill
 * reported in status and logs, and Berth restarted (SIGKILL, then SIGTERM) while containers run: re-adopted,
 * exactly one container per deployment, tools still answering. Under CI=true a missing engine fails the suite.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineForTests, TEST_BASE_IMAGE, TEST_SOCKET } from '../../src/runtime/container/testing/engine.js';
import { TestApi } from '../support/api.js';
import { ROOT, startBerth, type BerthProcess } from '../support/berth-process.js';
import { toolCaller } from '../support/sandbox.js';

const IMAGE = 'localhost/berth-test/container-mcp:e2e';
const run = engineForTests('e2e container runtime');

/** `podman ARGS`; tried again a few times when Podman 4.3 trips over another container's network namespace (see ADR 22). */
const podman = (args: string[]): string => {
  for (let attempt = 1; ; attempt++) {
    try {
      return execFileSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      if (attempt >= 6 || !/network namespace|unknown FS magic/.test(String((err as { stderr?: string }).stderr ?? err))) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
};
/** The running containers of one deployment (by Berth's owner label). */
const containersOf = (id: string): string[] => podman(['ps', '-q', '--no-trunc', '--filter', `label=berth.deployment=${id}`]).split('\n').filter(Boolean);

describe.runIf(run).sequential('container runtime end to end (real Podman)', () => {
  let berth: BerthProcess;
  let api: TestApi;
  let dataDir: string;
  let context: string;
  const env = { BERTH_CONTAINER_SOCKET: TEST_SOCKET, BERTH_CONTAINER_NETWORK: 'berth-e2e', BERTH_BASE_IMAGE: TEST_BASE_IMAGE, BERTH_DRAIN_S: '3' };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    context = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
    copyFileSync(join(ROOT, 'test/fixtures/container-mcp-server.mjs'), join(context, 'server.mjs'));
    writeFileSync(join(context, 'Dockerfile'), `FROM ${TEST_BASE_IMAGE}\nCOPY server.mjs /app/server.mjs\nLABEL berth.test=e2e\nCMD ["node", "/app/server.mjs", "stdio"]\n`);
    podman(['build', '--runtime', 'runc', '-q', '-t', IMAGE, context]);
    dataDir = mkdtempSync(join(tmpdir(), 'berth-e2e-ct-'));
    berth = await startBerth({ dataDir, env });
    api = new TestApi(berth.url, berth.token);
  }, 300_000);

  afterAll(async () => {
    for (const id of Object.values(ids)) await api?.call('DELETE', `/api/deployments/${id}`).catch(() => {});
    await berth?.stop();
    // Whatever is left of this Berth's containers and networks (a failed test), and the image.
    const owner = `b${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`;
    const left = podman(['ps', '-aq', '--filter', `label=berth.owner=${owner}`]).split('\n').filter(Boolean);
    if (left.length > 0) podman(['rm', '-f', ...left]);
    for (const n of podman(['network', 'ls', '-q', '--filter', `label=berth.owner=${owner}`]).split('\n').filter(Boolean)) podman(['network', 'rm', '-f', n]);
    podman(['rmi', '-f', IMAGE]);
    rmSync(context, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  const call = async (id: string, tool: string, args: Record<string, unknown> = {}): Promise<string> => {
    const c = await toolCaller(`${berth.url}/s/${id}/mcp`, berth.authHeaders());
    try {
      return await c.call(tool, args);
    } finally {
      await c.close();
    }
  };

  it('deploys image:REF (stdio behind the bridge) and calls its tools through the gateway', async () => {
    const d = await api.deploy({ name: 'ct-stdio', spec: { type: 'image', image: IMAGE } });
    ids.stdio = d.id;
    const s = await api.waitFor(d.id);
    expect(s.runtime).toBe('container');
    expect(s.sandbox?.kind).toBe('container');
    expect(await call(d.id, 'echo', { text: 'from a container' })).toBe('from a container');
    const who = JSON.parse(await call(d.id, 'whoami')) as { uid: number; home: string };
    expect(who).toMatchObject({ uid: 10001, home: '/home/berth' });
    expect(containersOf(d.id)).toHaveLength(1);
    // Status reads the container's figures from the engine: the bridge and the server, both Node, in its cgroup.
    const usage = (await api.call<{ usage: { revision: number; memory_bytes: number; processes: number }[] }>('GET', `/api/deployments/${d.id}/status`)).body.usage;
    expect(usage).toHaveLength(1);
    expect(usage[0]!.memory_bytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(usage[0]!.processes).toBeGreaterThanOrEqual(2);
  });

  it('deploys an http image (the server serves MCP itself on its port)', async () => {
    const d = await api.deploy({ name: 'ct-http', spec: { type: 'image', image: IMAGE, transport: 'http', port: 3000, command: ['node', '/app/server.mjs', 'http', '3000'] } });
    ids.http = d.id;
    await api.waitFor(d.id);
    expect(await call(d.id, 'echo', { text: 'over http' })).toBe('over http');
    expect(containersOf(d.id)).toHaveLength(1);
  });

  it('reports a server killed at its memory limit as out of memory, in status and logs', async () => {
    const d = await api.deploy({ name: 'ct-oom', spec: { type: 'image', image: IMAGE, limits: { memory_mb: 96 } } });
    ids.oom = d.id;
    await api.waitFor(d.id);
    const c = await toolCaller(`${berth.url}/s/${d.id}/mcp`, berth.authHeaders());
    await c.call('grow').catch(() => 'failed as expected');
    await c.close().catch(() => {});
    const deadline = Date.now() + 60_000;
    let s = await api.status(d.id);
    while (Date.now() < deadline && !s.last_exit?.reason) {
      await new Promise((r) => setTimeout(r, 250));
      s = await api.status(d.id);
    }
    expect(s.last_exit?.reason).toMatch(/out of memory: killed at the 96 MiB limit/);
    const logs = await api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${d.id}/logs?tail=500`);
    expect(logs.body.items.some((e) => /out of memory: killed at the 96 MiB limit: the kernel killed node/.test(e.line))).toBe(true);
    // The bridge in the container started the server again: it answers.
    let text = '';
    while (Date.now() < deadline && text !== 'alive') text = await call(d.id, 'echo', { text: 'alive' }).catch(() => '');
    expect(text).toBe('alive');
  });

  it('re-adopts running containers when Berth is killed (SIGKILL) and when it stops gracefully: one container each, tools still answer', async () => {
    const before = { stdio: containersOf(ids.stdio!), http: containersOf(ids.http!) };
    expect(before.stdio).toHaveLength(1);
    for (const how of ['SIGKILL', 'SIGTERM'] as const) {
      if (how === 'SIGKILL') await berth.kill();
      else await berth.stop();
      // The containers outlive Berth.
      expect(containersOf(ids.stdio!)).toEqual(before.stdio);
      berth = await startBerth({ dataDir, env });
      api = new TestApi(berth.url, berth.token);
      await api.waitFor(ids.stdio!);
      await api.waitFor(ids.http!);
      expect(containersOf(ids.stdio!)).toEqual(before.stdio);
      expect(containersOf(ids.http!)).toEqual(before.http);
      expect(await call(ids.stdio!, 'echo', { text: `after ${how}` })).toBe(`after ${how}`);
      expect(await call(ids.http!, 'echo', { text: `http after ${how}` })).toBe(`http after ${how}`);
      const logs = await api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${ids.stdio}/logs?tail=500`);
      expect(logs.body.items.some((e) => /adopted container/.test(e.line))).toBe(true);
    }
  }, 300_000);

  it("updates a container deployment under load (blue-green: a second container, swapped in under Berth's sessions) with no failed call, then rolls back", async () => {
    const d = await api.deploy({ name: 'ct-roll', spec: { type: 'image', image: IMAGE, env: { SERVER_TAG: 'r1:' } } });
    ids.roll = d.id;
    await api.waitFor(d.id);
    const answers: string[] = [];
    const failures: string[] = [];
    let running = true;
    // Four clients calling in a loop, each call on a session of its own (connect, call, close).
    const loops = Array.from({ length: 4 }, async (_, i) => {
      for (let n = 0; running; n++) {
        try {
          answers.push(await call(d.id, 'echo', { text: `${i}-${n}` }));
        } catch (err) {
          failures.push(String(err));
        }
      }
    });
    const waitCalls = async (more: number): Promise<void> => {
      const mark = answers.length + more;
      const deadline = Date.now() + 60_000;
      while (answers.length < mark && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    try {
      await waitCalls(8);
      const patched = await api.call('PATCH', `/api/deployments/${d.id}`, { spec: { env: { SERVER_TAG: 'r2:' } } });
      expect(patched.status).toBe(202);
      expect(await api.settled(d.id, 120_000)).toMatchObject({ status: 'running', serving_revision: 2 });
      await waitCalls(8);
      expect(answers.at(-1)).toMatch(/^r2:/);
      const back = await api.call('POST', `/api/deployments/${d.id}/rollback`, { revision: 1 });
      expect(back.status).toBeLessThan(300);
      expect(await api.settled(d.id, 120_000)).toMatchObject({ status: 'running', serving_revision: 3 });
      await waitCalls(8);
      expect(answers.at(-1)).toMatch(/^r1:/);
    } finally {
      running = false;
      await Promise.all(loops);
    }
    // The sessions are Berth's (its bridge over a channel to the bridge in the container): a session opened before a
    // switch is served by the next container after it, so not one call fails.
    expect(failures).toStrictEqual([]);
    // The old revisions' containers are gone once drained: one container serves.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && containersOf(d.id).length !== 1) await new Promise((r) => setTimeout(r, 200));
    expect(containersOf(d.id)).toHaveLength(1);
    console.log(`container update under load: ${answers.length} calls across two switches, none failed`);
  }, 300_000);

  it('deleting a deployment removes its container', async () => {
    const id = ids.http!;
    const r = await api.call('DELETE', `/api/deployments/${id}`);
    expect(r.status).toBeLessThan(300);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && containersOf(id).length > 0) await new Promise((r) => setTimeout(r, 200));
    expect(containersOf(id)).toEqual([]);
    delete ids.http;
  });
});
