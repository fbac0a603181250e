import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/support/ports.js';
import { sleep } from './phases.js';
import { startListening } from './procs.js';

/**
 * Reference gateways, measured in the same run as Berth in front of the same upstream:
 * - HAProxy in HTTP mode, one thread (Berth's event loop is one thread too), keep-alive both ways:
 *   what the best proxy this machine can run costs over a direct connection. Optional: the bench
 *   reports why it is missing (`apt-get install haproxy` adds it).
 * - A bare Node.js TCP relay (`bench/tcp-relay.ts`): the least any Node.js process in the path can
 *   cost, since it parses nothing. It separates what Berth's code costs from what the runtime does.
 */
export interface ReferenceGateway {
  /** Short name for tables ("HAProxy"). */
  label: string;
  /** Full name, as the target's heading. */
  name: string;
  url: string;
  pid: number;
  /** What the first CPU column charges. */
  note: string;
  stop(): Promise<void>;
}

/** A reference that was not measured, and why. */
export interface MissingReference {
  label: string;
  reason: string;
}

export type Reference = ReferenceGateway | MissingReference;

export const isMeasured = (r: Reference): r is ReferenceGateway => 'url' in r;

/** Every reference gateway in front of `upstream`, each started or saying why not (BENCH_REFERENCE=off skips them all). */
export async function startReferences(upstream: string): Promise<Reference[]> {
  if (process.env.BENCH_REFERENCE === 'off') {
    return ['HAProxy', TCP_RELAY].map((label) => ({ label, reason: 'skipped (BENCH_REFERENCE=off)' }));
  }
  return [await startHaproxy(upstream), await startTcpRelay(upstream)];
}

const TCP_RELAY = 'Node.js TCP relay';

async function startTcpRelay(upstream: string): Promise<Reference> {
  const path = new URL(upstream).pathname;
  try {
    const relay = await startListening('tcp-relay', ['--import', 'tsx', join('bench', 'tcp-relay.ts'), upstream]);
    return {
      label: TCP_RELAY,
      name: `reference: same server via a bare Node.js ${process.version} TCP relay (no HTTP parsing)`,
      url: `http://127.0.0.1:${relay.port}${path}`,
      pid: relay.pid,
      note: 'CPU µs/call: the first column is the relay\'s',
      stop: relay.stop,
    };
  } catch (err) {
    return { label: TCP_RELAY, reason: `not measured: the relay did not start (${(err as Error).message.split('\n')[0]})` };
  }
}

/** HAProxy's version line, or null when it is not installed. */
function haproxyVersion(): string | null {
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

async function startHaproxy(upstream: string): Promise<Reference> {
  const label = 'HAProxy';
  const version = haproxyVersion();
  if (version === null) return { label, reason: 'not measured: haproxy is not installed (apt-get install haproxy adds these rows)' };
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
    if (await accepts(port)) {
      return { label, name: `reference: same server via HAProxy ${version} (1 thread, http mode)`, url: `http://127.0.0.1:${port}${up.pathname}`, pid: proc.pid!, note: 'CPU µs/call: the first column is HAProxy\'s', stop };
    }
    await sleep(100);
  }
  await stop();
  return { label, reason: `not measured: haproxy did not start (${err.trim().split('\n').slice(-1)[0] ?? 'no output'})` };
}
