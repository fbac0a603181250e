import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';
import { runWorkloadContract } from '../workload.contract.js';
import type { Workload } from '../types.js';
import { ContainerRuntime } from './index.js';
import { engineForTests, TEST_BASE_IMAGE, TEST_SOCKET } from './testing/engine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const NODE_MODULES = path.join(ROOT, 'node_modules');
const BRIDGE = path.join(ROOT, 'dist/berth.mjs');

/**
 * The suite's workloads in a container: the same program, run by the image's node (`node` instead of Berth's own
 * binary) behind the bridge, with this checkout's node_modules mounted read-only at the same path.
 */
function inImage(w: Workload): Workload {
  const command = w.launch.command === process.execPath ? 'node' : w.launch.command;
  const { cwd: _cwd, ...launch } = w.launch;
  return { ...w, launch: { ...launch, command, mounts: [{ path: NODE_MODULES, mode: 'ro' }], image: { ref: TEST_BASE_IMAGE, serves: 'stdio', port: 8080, path: '/mcp' } } };
}

export function testContainerRuntime(dataDir: string, logs: ConstructorParameters<typeof ContainerRuntime>[0]['logs'], extra: Partial<ConstructorParameters<typeof ContainerRuntime>[0]> = {}): ContainerRuntime {
  return new ContainerRuntime({
    socketPath: TEST_SOCKET,
    dataDir,
    logs,
    // One owner per data dir: a second runtime on the same dir is "the same Berth, restarted".
    owner: `t${Buffer.from(dataDir).toString('hex').slice(-16)}`,
    network: 'berth-test',
    bridgeFile: BRIDGE,
    defaultImage: TEST_BASE_IMAGE,
    limits: { defaults: { memoryMb: 256, pids: 256, cpus: 1 }, max: { memoryMb: 2048, pids: 4096, cpus: 2 } },
    mountRoots: [realpathSync(NODE_MODULES)],
    onShutdown: 'stop',
    stopGraceMs: 2_000,
    ...extra,
  });
}

const run = engineForTests('container runtime contract');
describe.runIf(run)('container runtime (real Podman)', () => {
  runWorkloadContract('container (Podman, Docker Engine API)', ({ dataDir, logs }) => testContainerRuntime(dataDir, logs), { adapt: inImage, adopts: true });
});
