import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessSpecSchema } from '../core/spec.js';
import type { Deployment } from '../core/index.js';
import { RemoteAddressPolicy } from '../mcp/remote/ssrf.js';
import { PackageCache } from '../packages/index.js';
import { bridgeProgram, LocalHttpRuntime } from '../runtime/local-http/index.js';
import { ProcessRuntime, ProcessWorkloads } from '../runtime/process/index.js';
import type { WorkloadRuntime } from '../runtime/types.js';
import { MemoryLogStore } from '../telemetry/memory-logs.js';
import { serveEndpoint, textOf } from '../mcp/testing/helpers.js';
import { createEndpointFactory } from './endpoints.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EVERYTHING = path.join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const ECHO = path.join(ROOT, 'src/mcp/testing/mcp-echo-server.mjs');

function deployment(id: string, over: { revision?: number; args?: string[]; env?: Record<string, string> } = {}): Deployment {
  const now = new Date().toISOString();
  const spec = ProcessSpecSchema.parse({ type: 'process', command: process.execPath, args: over.args ?? [EVERYTHING, 'stdio'], cwd: ROOT, env: over.env ?? {} });
  const revision = over.revision ?? 1;
  return { id, name: id, access: 'private', description: null, tags: [], env_schema: [], spec, desired: 'running', status: 'pending', status_message: null, request_count: 0, last_request_at: null, tools: null, restart_count: 0, revision, serving_revision: null, generation: revision, observed_generation: 0, created_at: now, updated_at: now, started_at: null, stopped_at: null, deleted_at: null };
}

const DRIVERS: [string, (dataDir: string, logs: MemoryLogStore) => WorkloadRuntime][] = [
  ['process', (dataDir, logs) => new ProcessWorkloads({ runtime: new ProcessRuntime({ dataDir, logs, sandbox: 'none', mountRoots: [ROOT] }), dataDir, logs })],
  [
    'local-http (no container engine)',
    (dataDir, logs) => {
      const bridge = bridgeProgram(ROOT);
      const launcher = new ProcessRuntime({ dataDir, logs, sandbox: 'none', hostNetwork: 'allow', mountRoots: [ROOT, ...bridge.mounts] });
      return new LocalHttpRuntime({ launcher, dataDir, logs, bridge, operatorMountRoots: [ROOT] });
    },
  ],
];

describe.each(DRIVERS)('endpoint factory over the %s runtime', (name, makeRuntime) => {
  let dataDir = '';
  let logs: MemoryLogStore;
  let runtime: WorkloadRuntime;
  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-ep-'));
    logs = new MemoryLogStore();
    runtime = makeRuntime(dataDir, logs);
  });
  afterEach(async () => {
    await runtime.stopAll(500);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const factory = () =>
    createEndpointFactory({
      runtime,
      log: (id, line) => logs.append(id, 'system', line),
      resolveSecrets: async (_d, _prefix, fields) => fields,
      remoteGuard: new RemoteAddressPolicy([]),
      limits: { idleTimeoutMs: 60_000, maxSessions: 16, requestTimeoutMs: 30_000 },
      restart: { initialDelayMs: 100, maxDelayMs: 1000, maxCrashes: 3, windowMs: 60_000 },
      version: 'test',
      maxStdinBytes: 1024 * 1024,
      timing: {},
      // Only package specs reach the cache; these deployments are process specs.
      packages: new PackageCache({ root: path.join(dataDir, 'packages'), drivers: [], installTimeoutMs: 1000, allowInstallScripts: false }),
      progress: () => undefined,
      maxSessions: 16,
    });

  it('starts the workload with the endpoint, answers tools/list through it, and ends it on close', async () => {
    const endpoint = factory()(deployment('ep-one'), {});
    await endpoint.start();
    const { tools } = await endpoint.probe(20_000);
    expect(tools.map((t) => t.name)).toContain('echo');
    const running = await runtime.observe('ep-one');
    expect(running).toMatchObject({ phase: 'running', revision: 1, labels: { 'berth.deployment': 'ep-one', 'berth.revision': '1' } });
    await endpoint.close();
    expect(await runtime.observe('ep-one')).toBeNull();
  });

  it("an update swaps the endpoint onto revision 2's workload under an open session: the same client is answered by the new code, and revision 1's workload ends", async () => {
    const d1 = deployment('ep-swap', { args: [ECHO], env: { TAG: 'one' } });
    const endpoint = factory()(d1, {});
    await endpoint.start();
    const front = await serveEndpoint(endpoint);
    const client = new Client({ name: 'ep-swap', version: '1.0.0' });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(front.url)));
      const tag = async () => textOf(await client.callTool({ name: 'env', arguments: { name: 'TAG' } }));
      expect(await tag()).toBe('one');
      // An HTTP workload's channels tell when the bridge let go of revision 1: it ends then, long before a 20 s drain.
      const http = name.startsWith('local-http');
      const out = await endpoint.update!(deployment('ep-swap', { args: [ECHO], env: { TAG: 'two' }, revision: 2 }), { drainMs: http ? 20_000 : 300 });
      expect(out?.tools.map((t) => t.name)).toContain('env');
      // The session opened on revision 1 goes on: no new initialize, the answer comes from revision 2's server.
      expect(await tag()).toBe('two');
      // The old revision's workload ends after the drain (stdio: drainMs + 1 s), or once its channels closed (HTTP).
      const deadline = Date.now() + 10_000;
      while (!(await runtime.list({ 'berth.deployment': 'ep-swap' })).every((w) => w.revision === 2)) {
        if (Date.now() > deadline) throw new Error("revision 1's workload never ended");
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await runtime.observe('ep-swap'))?.revision).toBe(2);
      expect(await tag()).toBe('two');
    } finally {
      await client.close().catch(() => {});
      await endpoint.close();
      await front.close();
    }
  });
});
