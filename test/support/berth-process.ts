import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BUILD_FAILED_MARKER } from './build-marker.js';
import { freePort } from './ports.js';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface BerthProcess {
  url: string;
  port: number;
  dataDir: string;
  proc: ChildProcess;
  /** An admin token this Berth accepts (BERTH_API_TOKEN unless the test set its own env). */
  token: string;
  /** `Authorization` header with that token, for API calls and MCP clients alike. */
  authHeaders(): Record<string, string>;
  /** Everything Berth wrote to stderr so far. */
  output(): string;
  /** SIGTERM and wait for a clean exit. */
  stop(): Promise<number | null>;
  /** SIGKILL: a crash, leaving children and pid files behind. */
  kill(): Promise<void>;
  /** Stop and remove the data dir. */
  dispose(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  port?: number;
  env?: Record<string, string>;
  /** Extra node flags (e.g. `--cpu-prof`), placed before dist/main.js. */
  nodeArgs?: string[];
}

/** Start Berth from dist/ as a real process on a free loopback port and wait for /healthz. */
export async function startBerth(opts: StartOptions = {}): Promise<BerthProcess> {
  if (existsSync(BUILD_FAILED_MARKER)) throw new Error(`dist/ is stale: the build failed:\n${readFileSync(BUILD_FAILED_MARKER, 'utf8')}`);
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'berth-e2e-'));
  const port = opts.port ?? (await freePort());
  const token = opts.env?.BERTH_API_TOKEN ?? `brt_${randomBytes(24).toString('hex')}`;
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), join(ROOT, 'dist/main.js')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      BERTH_PORT: String(port),
      BERTH_HOST: '127.0.0.1',
      BERTH_DATA_DIR: dataDir,
      BERTH_LOG_LEVEL: 'warn',
      BERTH_API_TOKEN: token,
      // Test remotes (url deployments) listen on 127.0.0.1, which the SSRF guard refuses unless allowed.
      // A test of the guard itself passes its own BERTH_REMOTE_ALLOW ('' for Berth's default: none).
      BERTH_REMOTE_ALLOW: 'loopback',
      // Test servers run from this checkout (fixtures, node_modules): let deployments use it as their cwd.
      BERTH_MOUNT_ROOTS: ROOT,
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`Berth exited with ${proc.exitCode} before it was ready:\n${out}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`Berth did not answer /healthz within 30s:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  let gone = false;
  const handle: BerthProcess = {
    url,
    port,
    dataDir,
    proc,
    token,
    authHeaders: () => ({ authorization: `Bearer ${token}` }),
    output: () => out,
    async stop() {
      if (gone) return proc.exitCode;
      gone = true;
      proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (gone) return;
      gone = true;
      proc.kill('SIGKILL');
      await exited;
    },
    async dispose() {
      await handle.stop();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}
