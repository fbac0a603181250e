import { describe } from 'vitest';
import { hardeningSuite } from './testing/hardening.js';
import { runWorkloadContract } from '../workload.contract.js';
import type { Workload } from '../types.js';
import { engineForTests, NODE_MODULES, TEST_BASE_IMAGE, testContainerRuntime } from './testing/engine.js';


/**
 * The suite's workloads in a container: the same program, run by the image's node (`node` instead of Berth's own
 * binary) behind the bridge, with this checkout's node_modules mounted read-only at the same path.
 */
function inImage(w: Workload): Workload {
  const command = w.launch.command === process.execPath ? 'node' : w.launch.command;
  const { cwd: _cwd, ...launch } = w.launch;
  return { ...w, launch: { ...launch, command, mounts: [{ path: NODE_MODULES, mode: 'ro' }], image: { ref: TEST_BASE_IMAGE, serves: 'stdio', port: 8080, path: '/mcp' } } };
}

const run = engineForTests('container runtime contract');
describe.runIf(run).sequential('container runtime (real Podman)', () => {
  runWorkloadContract('container (Podman, Docker Engine API)', ({ dataDir, logs }) => testContainerRuntime(dataDir, logs), { adapt: inImage, adopts: true });
  hardeningSuite();
});
