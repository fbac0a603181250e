import { spawn, type ChildProcess } from 'node:child_process';
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
    spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'src/mcp/testing/mcp-echo-server.mjs'), ...args], env: {}, cwd: ROOT, ...spec },
    ...extra,
  };
}

/** test/fixtures/mcp-http-server.mjs: a Streamable HTTP MCP server (SDK 1.x) on a free loopback port; it exits when its stdin closes. `env`: EXPECTED_AUTH, BENCH_JSON_RESPONSE. */
export async function startHttpUpstream(env: Record<string, string> = {}): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [join(ROOT, 'test/fixtures/mcp-http-server.mjs')], { cwd: ROOT, env: { ...process.env, BENCH_PORT: '0', ...env }, stdio: ['pipe', 'pipe', 'inherit'] }); // stdin open: the server exits when we go
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /listening (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`upstream exited with ${code}`)));
  });
  return { proc, url: `http://127.0.0.1:${port}/mcp` };
}
