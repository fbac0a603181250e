import { ProcessRuntime } from './index.js';
import { ProcessWorkloads } from './workloads.js';
import { runWorkloadContract } from '../workload.contract.js';
import { resolveCommand } from './sandbox.js';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const HAS_BWRAP = resolveCommand('bwrap', '/usr/local/bin:/usr/bin:/bin', '/') !== null;

runWorkloadContract('process (sandbox none)', ({ dataDir, logs }) => new ProcessWorkloads({ runtime: new ProcessRuntime({ dataDir, logs, sandbox: 'none', stopGraceMs: 1000, mountRoots: [ROOT] }), dataDir, logs }));

if (HAS_BWRAP || process.env.CI === 'true') {
  runWorkloadContract('process (sandbox bubblewrap)', ({ dataDir, logs }) => new ProcessWorkloads({ runtime: new ProcessRuntime({ dataDir, logs, sandbox: 'bubblewrap', stopGraceMs: 1000, mountRoots: [ROOT] }), dataDir, logs }));
}
