import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { CreateDeploymentInput } from '../../src/core/index.js';
import type { TestApi } from '../support/api.js';
import { ROOT } from '../support/berth-process.js';
import { everythingSpec } from '../support/servers.js';
import type { UpstreamDef } from './tables.js';

const FIXTURES = join(ROOT, 'test/fixtures/matrix');

/** One deployed upstream: where clients reach it through Berth, and what its server wrote to stderr. */
export interface Row {
  def: UpstreamDef;
  /** `http://127.0.0.1:PORT/s/ID/mcp`; empty when the deployment could not be made. */
  endpoint: string;
  deploymentId: string;
  /** Why the deployment is not running, when it is not (every cell of the row then fails with it). */
  setupError?: Error;
  /** The server's stderr so far: Berth's deployment logs for processes, the child's own for url upstreams. */
  serverLog(): Promise<string>;
  stop(): Promise<void>;
}

/** A url upstream fixture on a free loopback port; it exits when our end of its stdin closes. */
async function startFixture(file: string, env: Record<string, string> = {}): Promise<{ proc: ChildProcess; port: number; stderr: () => string }> {
  const proc = spawn(process.execPath, [join(FIXTURES, file)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${file} did not print its port within 10 s:\n${err}`)), 10_000);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${file} exited with ${code} before listening:\n${err}`));
    });
  });
  return { proc, port, stderr: () => err };
}

function processSpec(def: UpstreamDef, mode: 'shared' | 'isolated'): CreateDeploymentInput['spec'] {
  const isolated = { warm: 1, max_sessions: 24 };
  if (def.server === 'everything') return { ...(everythingSpec().spec as Extract<CreateDeploymentInput['spec'], { type: 'process' }>), mode, isolated };
  return { type: 'process', command: process.execPath, args: [join(FIXTURES, 'stdio-v1.mjs')], env: {}, cwd: ROOT, mode, isolated };
}

async function berthLog(api: TestApi, id: string): Promise<string> {
  const r = await api.call<{ items: { stream: string; line: string }[] }>('GET', `/api/deployments/${id}/logs?tail=500`);
  return (r.body?.items ?? []).map((e) => `${e.stream}: ${e.line}`).join('\n');
}

/** Deploys one matrix upstream through the API; a failure is kept on the row, not thrown. */
export async function deployRow(api: TestApi, def: UpstreamDef): Promise<Row> {
  const name = `matrix-${def.id.replace(/[^a-z0-9]+/g, '-')}`;
  let child: Awaited<ReturnType<typeof startFixture>> | undefined;
  const row: Row = {
    def,
    endpoint: '',
    deploymentId: '',
    serverLog: async () => (child ? child.stderr() : row.deploymentId ? berthLog(api, row.deploymentId) : ''),
    stop: async () => {
      if (row.deploymentId) await api.call('DELETE', `/api/deployments/${row.deploymentId}`).catch(() => {});
      if (child && child.proc.exitCode === null) {
        const gone = new Promise((r) => child!.proc.once('exit', r));
        child.proc.stdin!.end();
        child.proc.kill('SIGTERM');
        await gone;
      }
    },
  };
  try {
    let spec: CreateDeploymentInput['spec'];
    if (def.deploy.kind === 'url') {
      child = await startFixture(def.deploy.fixture, def.deploy.env);
      spec = { type: 'url', endpoint: `http://127.0.0.1:${child.port}${def.deploy.path}` };
    } else {
      spec = processSpec(def, def.deploy.mode);
    }
    const d = await api.deploy({ name, spec });
    row.deploymentId = d.id;
    row.endpoint = d.endpoint;
    await api.waitFor(d.id, 'running', 30_000);
  } catch (err) {
    row.setupError = err instanceof Error ? err : new Error(String(err));
  }
  return row;
}
