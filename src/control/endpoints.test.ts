import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessSpecSchema } from '../core/spec.js';
import type { Deployment } from '../core/index.js';
import { RemoteAddressPolicy } from '../mcp/remote/ssrf.js';
import { PackageCache } from '../packages/index.js';
import { bridgeProgram, LocalHttpRuntime } from '../runtime/local-http/index.js';
import { ProcessRuntime, ProcessWorkloads } from '../runtime/process/index.js';
import type { WorkloadRuntime } from '../runtime/types.js';
import { MemoryLogStore } from '../telemetry/memory-logs.js';
import { createEndpointFactory } from './endpoints.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const EVERYTHING = path.join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

function deployment(id: string): Deployment {
  const now = new Date().toISOString();
  const spec = ProcessSpecSchema.parse({ type: 'process', command: process.execPath, args: [EVERYTHING, 'stdio'], cwd: ROOT });
  return { id, name: id, access: 'private', description: null, tags: [], env_schema: [], spec, desired: 'running', status: 'pending', status_message: null, request_count: 0, last_request_at: null, tools: null, restart_count: 0, revision: 1, serving_revision: null, generation: 1, observed_generation: 0, created_at: now, updated_at: now, started_at: null, stopped_at: null, deleted_at: null };
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

describe.each(DRIVERS)('endpoint factory over the %s runtime', (_name, makeRuntime) => {
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

  it('starts the workload with the endpoint, answers tools/list through it, and ends it on close', async () => {
    const make = createEndpointFactory({
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
    const endpoint = make(deployment('ep-one'), {});
    await endpoint.start();
    const { tools } = await endpoint.probe(20_000);
    expect(tools.map((t) => t.name)).toContain('echo');
    const running = await runtime.observe('ep-one');
    expect(running).toMatchObject({ phase: 'running', revision: 1, labels: { 'berth.deployment': 'ep-one', 'berth.revision': '1' } });
    await endpoint.close();
    expect(await runtime.observe('ep-one')).toBeNull();
  });
});
