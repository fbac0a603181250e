import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CreateDeploymentInput } from '../../src/core/index.js';
import { ROOT } from './berth-process.js';

/** An SDK 1.x client that sends Berth's credentials; `call` returns the tool's text. */
export interface ToolCaller {
  call(name: string, args?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

export async function toolCaller(endpoint: string, headers: Record<string, string>): Promise<ToolCaller> {
  const client = new Client({ name: 'berth-sandbox-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), { requestInit: { headers } });
  await client.connect(transport);
  return {
    async call(name, args = {}) {
      const r = (await client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 })) as { content?: { text?: string }[]; isError?: boolean };
      const t = (r.content ?? []).map((c) => c.text ?? '').join('');
      if (r.isError) throw new Error(`tool ${name} failed: ${t}`);
      return t;
    },
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

/** The hostile fixture server, run from this checkout mounted read-only (its cwd is its own work folder). */
export function escapeSpec(name: string, spec: Partial<Extract<CreateDeploymentInput['spec'], { type: 'process' }>> = {}): CreateDeploymentInput {
  return {
    name,
    spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'test/fixtures/mcp-escape-server.mjs')], env: {}, mounts: [{ path: ROOT, mode: 'ro' }], ...spec },
  };
}

/** The host's first non-loopback IPv4 address. */
export function externalAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  throw new Error('this test needs a non-loopback IPv4 address on the host');
}

/** A TCP listener that greets and hangs up; stop it with close(). */
export function greeter(host: string, greeting = 'hello'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s) => {
      s.on('error', () => {});
      s.end(greeting);
    });
    srv.once('error', reject);
    srv.listen(0, host, () => resolve(srv));
  });
}

export const portOf = (s: Server): number => (s.address() as { port: number }).port;

export interface PublicListener {
  address: string;
  port: number;
  close(): void;
}

/**
 * A TCP listener on a non-private address that is not the host's: a throwaway network namespace
 * (its own process, so it vanishes with it) linked to the host by a veth pair, with /32 routes, on
 * TEST-NET-2 (198.51.100.0/24, never routed on the internet). It stands in for "somewhere on the
 * internet", which cannot be reached from these machines. Needs root, `unshare`, `nsenter` and `ip`.
 */
export async function publicListener(greeting: string): Promise<PublicListener> {
  const tag = randomBytes(3).toString('hex');
  const hostSide = `bh${tag}`;
  const nsSide = `bn${tag}`;
  const octet = 10 + (randomBytes(1)[0]! % 200);
  const hostAddr = `198.51.100.${octet}`;
  const address = `198.51.100.${octet + 1}`;
  const listener = `require('net').createServer((s) => { s.on('error', () => {}); s.end(${JSON.stringify(greeting)}); }).listen(0, '0.0.0.0', function () { process.stdout.write(this.address().port + '\\n'); });`;
  const ns = spawn('unshare', ['--net', '--', process.execPath, '-e', listener], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    ns.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    ns.once('exit', (code) => reject(new Error(`listener namespace exited with ${code}`)));
  });
  const pid = String(ns.pid);
  const run = (...args: string[]): void => void execFileSync(args[0]!, args.slice(1), { stdio: 'pipe' });
  try {
    run('ip', 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide);
    run('ip', 'link', 'set', nsSide, 'netns', pid);
    run('ip', 'addr', 'add', `${hostAddr}/32`, 'dev', hostSide);
    run('ip', 'link', 'set', hostSide, 'up');
    run('ip', 'route', 'add', `${address}/32`, 'dev', hostSide);
    for (const cmd of [
      ['addr', 'add', `${address}/32`, 'dev', nsSide],
      ['link', 'set', nsSide, 'up'],
      ['link', 'set', 'lo', 'up'],
      ['route', 'add', `${hostAddr}/32`, 'dev', nsSide],
      ['route', 'add', 'default', 'via', hostAddr, 'dev', nsSide],
    ]) {
      run('nsenter', '-t', pid, '-n', 'ip', ...cmd);
    }
  } catch (err) {
    ns.kill('SIGKILL');
    throw err;
  }
  // Killing the namespace's only process removes the namespace, the veth pair and the host route.
  return { address, port, close: () => void ns.kill('SIGKILL') };
}
