import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProcessRuntime } from '../process/index.js';
import { resolveCommand } from '../process/sandbox.js';
import { runWorkloadContract } from '../workload.contract.js';
import { bridgeProgram, LocalHttpRuntime } from './index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const HAS_BWRAP = resolveCommand('bwrap', '/usr/local/bin:/usr/bin:/bin', '/') !== null;
const bridge = bridgeProgram(ROOT);

// HTTP workloads without a container engine: no Docker or Podman is involved, the bridge program runs as a sandboxed child.
for (const sandbox of HAS_BWRAP || process.env.CI === 'true' ? (['none', 'bubblewrap'] as const) : (['none'] as const)) {
  runWorkloadContract(`local-http, no container engine (sandbox ${sandbox})`, ({ dataDir, logs }) => {
    const launcher = new ProcessRuntime({ dataDir, logs, sandbox, stopGraceMs: 1000, hostNetwork: 'allow', mountRoots: [ROOT, ...bridge.mounts] });
    return new LocalHttpRuntime({ launcher, dataDir, logs, bridge, operatorMountRoots: [ROOT] });
  });
}
