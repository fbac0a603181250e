/**
 * local-http runtime driver: each workload is the bridge program (`berth bridge`) in a sandboxed child
 * process on a free 127.0.0.1 port; the data plane reaches it over HTTP, as it will reach containers.
 * See ./runtime.ts and docs/adr/0017-workload-runtime.md.
 */
import path from 'node:path';

export { LocalHttpRuntime, type LocalHttpRuntimeOptions } from './runtime.js';

/**
 * How to run this installation's `berth bridge` (`installRoot`: the folder with bin/, dist/, node_modules/ and
 * package.json), and what of it a sandboxed bridge must see, read-only.
 */
export function bridgeProgram(installRoot: string): { command: string; args: string[]; mounts: string[] } {
  return {
    command: process.execPath,
    args: [path.join(installRoot, 'bin/berth.js'), 'bridge'],
    mounts: ['bin', 'dist', 'node_modules', 'package.json'].map((p) => path.join(installRoot, p)),
  };
}
