import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { waitExit } from './child-io.js';
import { resolveCommand } from './sandbox.js';

/**
 * Egress for a sandbox in its own network namespace: slirp4netns gives it a tap device whose
 * traffic leaves through ordinary sockets of the host (user-mode NAT), so the sandbox needs no
 * bridge, veth or iptables rule on the host. `--disable-host-loopback` stops the gateway address
 * from leading to the host's 127.0.0.1; "prohibit" routes inside the namespace stop it from
 * reaching the host's other addresses, its local networks and the private ranges (slirp would
 * otherwise connect there on its behalf). The server has no CAP_NET_ADMIN, so it cannot undo them.
 */

export interface EgressTools {
  slirp4netns: string;
  /** Makes the network namespace in front of bwrap (see `egressPrefix`). */
  unshare: string;
  nsenter: string;
  ip: string;
}

/** The tools egress needs, or the names of the missing ones. */
export function findEgressTools(searchPath: string): EgressTools | { missing: string[] } {
  const found = {
    slirp4netns: resolveCommand('slirp4netns', searchPath, '/'),
    unshare: resolveCommand('unshare', searchPath, '/'),
    nsenter: resolveCommand('nsenter', searchPath, '/'),
    ip: resolveCommand('ip', searchPath, '/'),
  };
  const missing = Object.entries(found)
    .filter(([, p]) => p === null)
    .map(([name]) => name);
  if (missing.length > 0) return { missing };
  return found as EgressTools;
}

/** IPv4 ranges that are not the public internet (RFC 6890), blocked for `egress`. 127/8 stays the namespace's own loopback. */
export const NON_PUBLIC_RANGES = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
];

function toInt(addr: string): number {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`not an IPv4 address: ${addr}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function fromInt(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function parseCidr(cidr: string): { base: number; bits: number } {
  const [addr, bits = '32'] = cidr.split('/');
  const b = Number(bits);
  const mask = b === 0 ? 0 : (~0 << (32 - b)) >>> 0;
  return { base: (toInt(addr ?? '') & mask) >>> 0, bits: b };
}

/** `addr/bits` with the host part cleared. */
export function networkOf(addr: string, bits: number): string {
  return `${fromInt(parseCidr(`${addr}/${bits}`).base)}/${bits}`;
}

export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  const bits = Math.min(x.bits, y.bits);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return ((x.base & mask) >>> 0) === ((y.base & mask) >>> 0);
}

/** The host's own IPv4 addresses (as /32) and the networks they sit on, loopback excluded. */
export function hostRanges(ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string[] {
  const out: string[] = [];
  for (const list of Object.values(ifaces)) {
    for (const i of list ?? []) {
      if (i.family !== 'IPv4' || i.internal) continue;
      out.push(`${i.address}/32`);
      const bits = Number(i.cidr?.split('/')[1] ?? 32);
      if (bits < 32) out.push(networkOf(i.address, bits));
    }
  }
  return out;
}

/** slirp's network inside the sandbox: the gateway is .2 (the host), the DNS forwarder .3, the sandbox .100. */
export interface SlirpNet {
  cidr: string;
  gateway: string;
  dns: string;
}

const SLIRP_CANDIDATES = ['10.0.2.0/24', '10.213.0.0/24', '172.30.213.0/24', '192.168.213.0/24'];

/** slirp's default network unless the host itself sits on it. */
export function pickSlirpNet(host: readonly string[] = hostRanges()): SlirpNet {
  const cidr = SLIRP_CANDIDATES.find((c) => !host.some((h) => cidrsOverlap(c, h))) ?? SLIRP_CANDIDATES[0]!;
  const base = parseCidr(cidr).base;
  return { cidr, gateway: fromInt(base + 2), dns: fromInt(base + 3) };
}

/** Every range the sandbox's routing table prohibits: the gateway itself, the non-public ranges and the host's networks. */
export function blockedRanges(net: SlirpNet, host: readonly string[] = hostRanges()): string[] {
  // A host network that contains slirp's own would cut the sandbox off its gateway; the host's
  // addresses in it are then unreachable through slirp anyway.
  const hostOnes = host.filter((h) => !cidrsOverlap(h, net.cidr) || h.endsWith('/32'));
  return [...new Set([`${net.gateway}/32`, ...NON_PUBLIC_RANGES, ...hostOnes])];
}

/**
 * Goes in front of bwrap for egress: the namespace is made by `unshare`, not by bwrap's
 * --unshare-net, because bwrap would add 127.0.0.1 to `lo` while slirp4netns brings `lo` up
 * (which adds the same address), and bwrap gives up when it loses that race.
 */
export function egressPrefix(tools: EgressTools): string[] {
  return [tools.unshare, '--net', '--'];
}

/** One running slirp4netns, tied to one sandbox. */
export interface EgressHelper {
  readonly pid: number;
  /** Ends the helper (idempotent); resolves when it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts slirp4netns for the network namespace of `sandboxPid` and, once it has configured the
 * tap device, installs the prohibit routes. Resolves when the namespace is ready for the server.
 */
export async function attachEgress(opts: { tools: EgressTools; sandboxPid: number; net: SlirpNet; blocked: readonly string[]; timeoutMs?: number }): Promise<EgressHelper> {
  const { tools, sandboxPid, net } = opts;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // fd 3: ready signal from slirp; fd 4: slirp exits when Berth's end closes (Berth died or stop()).
  const child = spawn(
    tools.slirp4netns,
    ['--configure', '--mtu=65520', `--cidr=${net.cidr}`, '--disable-host-loopback', '--enable-sandbox', '--enable-seccomp', '--ready-fd=3', '--exit-fd=4', String(sandboxPid), 'tap0'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true, env: {} },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString('utf8');
  });
  child.on('error', () => {});
  const exitPipe = child.stdio[4] as Writable;
  exitPipe.on('error', () => {});
  let stopped: Promise<void> | null = null;
  const helper: EgressHelper = {
    pid: child.pid ?? -1,
    stop() {
      stopped ??= (async () => {
        exitPipe.destroy();
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
          try {
            process.kill(child.pid, 'SIGTERM');
          } catch {
            /* already gone */
          }
        }
        const killer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await waitExit(child);
        clearTimeout(killer);
      })();
      return stopped;
    },
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`slirp4netns was not ready within ${timeoutMs} ms`)), timeoutMs);
      (child.stdio[3] as Readable).once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`slirp4netns exited (${signal ?? `code ${code}`}) before it was ready: ${stderr.trim().slice(-500)}`));
      });
    });
    (child.stdio[3] as Readable).destroy();
    const script = ['link set lo up', ...opts.blocked.map((r) => `route replace prohibit ${r}`)].join('\n') + '\n';
    await runWithInput(tools.nsenter, ['-t', String(sandboxPid), '-n', tools.ip, '-batch', '-'], script, timeoutMs);
    return helper;
  } catch (err) {
    await helper.stop();
    throw err;
  }
}

/** Runs a helper command with `input` on stdin; rejects with its stderr unless it exits 0. */
function runWithInput(file: string, args: string[], input: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(file, args, { stdio: ['pipe', 'ignore', 'pipe'], env: {} });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => {
      if (err.length < 4096) err += d.toString('utf8');
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${args.slice(3).join(' ')} failed (${signal ?? `code ${code}`}): ${err.trim().slice(-500)}`));
    });
    p.stdin!.on('error', () => {});
    p.stdin!.end(input);
  });
}
