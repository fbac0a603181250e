import { join } from 'node:path';
import type { CreateDeploymentInput } from '../../src/core/index.js';
import { ROOT } from './berth-process.js';

/** The real server-everything from npm, over stdio. */
export function everythingSpec(name = 'everything', env: Record<string, string> = {}, extra: Partial<CreateDeploymentInput> = {}): CreateDeploymentInput {
  return {
    name,
    spec: {
      type: 'process',
      command: process.execPath,
      args: [join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'],
      env,
      cwd: ROOT,
    },
    ...extra,
  };
}

type ProcessSpecInput = Extract<CreateDeploymentInput['spec'], { type: 'process' }>;

/** Our own small stdio server (SDK 1.x): echo, slow (progress, cancellable), crash, whoami, stats, sample. */
export function echoSpec(name = 'echo', args: string[] = [], extra: Partial<CreateDeploymentInput> = {}, spec: Partial<ProcessSpecInput> = {}): CreateDeploymentInput {
  return {
    name,
    spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'test/fixtures/mcp-echo-server.mjs'), ...args], env: {}, cwd: ROOT, ...spec },
    ...extra,
  };
}
