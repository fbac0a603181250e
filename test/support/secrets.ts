/** Helpers of the secrets suites: a tool call with Berth's credentials, the real CLI with a stdin, and a leak scanner. */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CreateDeploymentInput } from '../../src/core/index.js';
import { ROOT, type BerthProcess } from './berth-process.js';
import { textOf, type ToolResult } from './clients.js';

/** Calls one tool through the gateway (SDK 1.x), sending `headers` (Berth's credentials) on every request. */
export async function callTool(endpoint: string, headers: Record<string, string>, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const client = new Client({ name: 'berth-e2e-secrets', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(endpoint), { requestInit: { headers } });
  await client.connect(transport);
  try {
    return textOf((await client.callTool({ name, arguments: args })) as ToolResult);
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
}

/** test/fixtures/mcp-secret-server.mjs as a process deployment (tool `getenv`; prints $PRINT_VAR to stderr at start). */
export function secretServerSpec(name: string, env: Record<string, string>, extra: Partial<CreateDeploymentInput> = {}): CreateDeploymentInput {
  return { name, spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'test/fixtures/mcp-secret-server.mjs')], env, cwd: ROOT }, ...extra };
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `bin/berth.js` (from dist/) against `berth`, with `stdin` piped in (or none). */
export function berthCli(berth: BerthProcess, args: string[], stdin?: string, timeoutMs = 120_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/berth.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', BERTH_URL: berth.url, BERTH_TOKEN: berth.token },
      stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    if (stdin !== undefined) p.stdin!.end(stdin);
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The forms a leaked value would take: as is, JSON-escaped, base64. */
export function needlesOf(values: readonly string[]): { value: string; form: string; bytes: Buffer }[] {
  return values.flatMap((value) => {
    const forms: [string, string][] = [
      ['raw', value],
      ['json', JSON.stringify(value).slice(1, -1)],
      ['base64', Buffer.from(value).toString('base64')],
    ];
    return forms.map(([form, text]) => ({ value, form, bytes: Buffer.from(text) }));
  });
}

export interface Hit {
  where: string;
  value: string;
  form: string;
}

/** Every hit of every form of `values` in `data`, labelled `where`. Binary-safe. */
export function scanBytes(where: string, data: Buffer | string, values: readonly string[]): Hit[] {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  return needlesOf(values)
    .filter((n) => buf.includes(n.bytes))
    .map((n) => ({ where, value: n.value, form: n.form }));
}

/** Every file under `dir` (links not followed), read whole and scanned. */
export function scanTree(dir: string, values: readonly string[]): { files: number; hits: Hit[] } {
  let files = 0;
  const hits: Hit[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        hits.push(...scanBytes(p, readFileSync(p), values));
      }
    }
  };
  walk(dir);
  return { files, hits };
}
