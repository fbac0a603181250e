import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/ports.js';
import { sleep } from './phases.js';

/**
 * A reference gateway measured in the same run as Berth: HAProxy in HTTP mode in front of the same
 * upstream, one thread (Berth's event loop is one thread too), keep-alive both ways. It shows what
 * the best proxy this machine can run costs over a direct connection, so Berth's ratios can be read
 * against it. Optional: the bench reports why it is missing (`apt-get install haproxy` adds it).
 */
export interface ReferenceGateway {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** HAProxy's version line, or null when it is not installed (BENCH_REFERENCE=off skips it). */
function haproxyVersion(): string | null {
  if (process.env.BENCH_REFERENCE === 'off') return null;
  try {
    return /version (\S+)/.exec(execFileSync('haproxy', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))?.[1] ?? 'unknown';
  } catch {
    return null;
  }
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/** Start the reference gateway in front of `upstream`, or say why there is none. */
export async function startReferenceGateway(upstream: string): Promise<ReferenceGateway | string> {
  const version = haproxyVersion();
  if (version === null) {
    return process.env.BENCH_REFERENCE === 'off' ? 'skipped (BENCH_REFERENCE=off)' : 'not measured: haproxy is not installed (apt-get install haproxy adds this row)';
  }
  const up = new URL(upstream);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-ref-'));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global',
    '  nbthread 1',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    'frontend gw',
    `  bind 127.0.0.1:${port}`,
    '  default_backend upstream',
    'backend upstream',
    '  http-reuse always',
    `  server s1 ${up.hostname}:${up.port}`,
    '',
  ].join('\n'));
  const proc = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 50; i++) {
    if (proc.exitCode !== null) break;
    if (await accepts(port)) return { name: `reference: same server via HAProxy ${version} (1 thread, http mode)`, url: `http://127.0.0.1:${port}${up.pathname}`, pid: proc.pid!, stop };
    await sleep(100);
  }
  await stop();
  return `not measured: haproxy did not start (${err.trim().split('\n').slice(-1)[0] ?? 'no output'})`;
}
