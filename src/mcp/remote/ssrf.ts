/**
 * The SSRF guard for url deployments: which addresses Berth may connect to on a remote's behalf.
 *
 * A url deployment's endpoint is chosen by whoever may create deployments, and every connection Berth
 * makes for it (the proxy, detection, the translating channels, health probes) comes from Berth's own
 * network position. So the address actually connected to is checked, after DNS resolution and at
 * connect time (a name that resolves to a public address at create time and to 169.254.169.254 later
 * gains nothing):
 *
 * - never: unspecified, link-local, multicast, broadcast, and cloud metadata addresses;
 * - only when the operator allows them (`BERTH_REMOTE_ALLOW`): loopback (`loopback`), private and shared
 *   ranges (`private`), other special-purpose ranges (documentation, benchmarking, reserved: by CIDR only),
 *   or any of these by CIDR;
 * - everything else (public addresses): always.
 *
 * IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4) are
 * judged by the IPv4 address they carry.
 */
import { lookup as dnsLookup } from 'node:dns';
import { createRequire } from 'node:module';
import { BlockList, isIP, type LookupFunction, type Socket } from 'node:net';
import type { buildConnector } from 'undici';
import { BerthError } from '../../core/errors.js';

/** What an address is, for the policy. */
export type AddressClass = 'public' | 'loopback' | 'private' | 'reserved' | 'metadata' | 'link-local' | 'unspecified' | 'multicast' | 'broadcast';

const NEVER: ReadonlySet<AddressClass> = new Set(['metadata', 'link-local', 'unspecified', 'multicast', 'broadcast']);

/** Ranges by class, most specific first (metadata addresses sit inside private and link-local ranges). */
const RANGES: [AddressClass, 'ipv4' | 'ipv6', string, number][] = [
  ['metadata', 'ipv4', '169.254.169.254', 32], // AWS, GCP, Azure, OCI, DigitalOcean…
  ['metadata', 'ipv4', '169.254.170.2', 32], // AWS ECS task metadata
  ['metadata', 'ipv4', '100.100.100.200', 32], // Alibaba Cloud
  ['metadata', 'ipv4', '192.0.0.192', 32], // Oracle Cloud (classic)
  ['metadata', 'ipv6', 'fd00:ec2::254', 128], // AWS (IPv6)
  ['broadcast', 'ipv4', '255.255.255.255', 32],
  ['unspecified', 'ipv4', '0.0.0.0', 8],
  ['unspecified', 'ipv6', '::', 128],
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['loopback', 'ipv6', '::1', 128],
  ['link-local', 'ipv4', '169.254.0.0', 16],
  ['link-local', 'ipv6', 'fe80::', 10],
  ['multicast', 'ipv4', '224.0.0.0', 4],
  ['multicast', 'ipv6', 'ff00::', 8],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['private', 'ipv4', '192.168.0.0', 16],
  ['private', 'ipv4', '100.64.0.0', 10], // shared address space (carrier-grade NAT)
  ['private', 'ipv6', 'fc00::', 7], // unique local
  ['private', 'ipv6', 'fec0::', 10], // site-local (deprecated)
  ['reserved', 'ipv4', '192.0.0.0', 24],
  ['reserved', 'ipv4', '192.0.2.0', 24],
  ['reserved', 'ipv4', '198.18.0.0', 15],
  ['reserved', 'ipv4', '198.51.100.0', 24],
  ['reserved', 'ipv4', '203.0.113.0', 24],
  ['reserved', 'ipv4', '240.0.0.0', 4],
  ['reserved', 'ipv6', '100::', 64], // discard-only
  ['reserved', 'ipv6', '2001:db8::', 32], // documentation
];

/** One BlockList per class, in the order of RANGES. */
const CLASSES: [AddressClass, BlockList][] = (() => {
  const byClass = new Map<AddressClass, BlockList>();
  for (const [cls, family, net, prefix] of RANGES) {
    let list = byClass.get(cls);
    if (!list) byClass.set(cls, (list = new BlockList()));
    list.addSubnet(net, prefix, family);
  }
  return [...byClass];
})();

/** The 8 groups of an IPv6 address (valid per `isIP`), zone id dropped. */
function ipv6Groups(ip: string): number[] {
  let s = ip.split('%', 1)[0]!.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const o = dotted.slice(1).map(Number);
    s = `${s.slice(0, dotted.index)}${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const parse = (part: string | undefined): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  return tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

/** The first and last address of `addr/prefix`. */
function cidrBounds(addr: string, prefix: number, family: 4 | 6): [string, string] {
  const bits = family === 4 ? 32 : 128;
  const value = family === 4 ? addr.split('.').reduce((a, o) => (a << 8n) | BigInt(o), 0n) : ipv6Groups(addr).reduce((a, g) => (a << 16n) | BigInt(g), 0n);
  const host = (1n << BigInt(bits - prefix)) - 1n;
  const show = (n: bigint): string =>
    family === 4
      ? [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.')
      : Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
  return [show(value & ~host), show(value | host)];
}

const v4 = (hi: number, lo: number): string => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/** The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any. */
function embeddedIPv4(ip: string): string | undefined {
  const g = ipv6Groups(ip);
  const zeros = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) return v4(g[6]!, g[7]!); // ::ffff:a.b.c.d
  if (zeros(0, 6) && (g[6] !== 0 || g[7]! > 1)) return v4(g[6]!, g[7]!); // ::a.b.c.d (not :: or ::1)
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return v4(g[6]!, g[7]!); // 64:ff9b::a.b.c.d
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!); // 2002:AABB:CCDD::/48
  return undefined;
}

/** `ip` with its zone id dropped, and an IPv6 address that stands for an IPv4 one replaced by it. */
function canonical(ip: string): { ip: string; family: 0 | 4 | 6 } {
  const bare = ip.split('%', 1)[0]!;
  const family = isIP(bare) as 0 | 4 | 6;
  if (family !== 6) return { ip: bare, family };
  const inner = embeddedIPv4(bare);
  return inner === undefined ? { ip: bare, family } : { ip: inner, family: 4 };
}

/** What `ip` (an IPv4 or IPv6 address) is. Not an address at all: `unspecified` (refused). */
export function classify(ip: string): AddressClass {
  const c = canonical(ip);
  if (c.family === 0) return 'unspecified';
  const type = c.family === 4 ? 'ipv4' : 'ipv6';
  for (const [cls, list] of CLASSES) if (list.check(c.ip, type)) return cls;
  return 'public';
}

/** Raised (as a connect error) when the guard refuses an address; `code` lets callers tell it from network errors. */
export class RemoteAddressForbiddenError extends Error {
  readonly code = 'REMOTE_ADDRESS_FORBIDDEN';
}

/** The guard's refusal somewhere in an error's cause chain (undici and node may wrap it). */
export function forbiddenIn(err: unknown): RemoteAddressForbiddenError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof RemoteAddressForbiddenError) return e;
    if ((e as { code?: unknown }).code === 'REMOTE_ADDRESS_FORBIDDEN') return new RemoteAddressForbiddenError(e.message);
  }
  return undefined;
}

const KEYWORDS = new Set(['loopback', 'private']);

/** What a connection pool needs of the policy. */
export type ConnectGuard = Pick<RemoteAddressPolicy, 'connector'>;

/** Checks every address a url deployment's connections go to. Built once from `BERTH_REMOTE_ALLOW`. */
export class RemoteAddressPolicy {
  private readonly allowLoopback: boolean;
  private readonly allowPrivate: boolean;
  private readonly cidrs = new BlockList();
  private readonly cidrCount: number;
  /** For net.connect: resolves a name and keeps only the addresses the policy allows. */
  readonly lookup: LookupFunction;

  /** `allow`: `loopback`, `private`, addresses and CIDRs (`10.1.0.0/16`, `fd12::/16`). Throws CONFIG_INVALID on anything else. */
  constructor(allow: readonly string[]) {
    this.allowLoopback = allow.includes('loopback');
    this.allowPrivate = allow.includes('private');
    let n = 0;
    for (const entry of allow) {
      if (KEYWORDS.has(entry)) continue;
      const [addr = '', prefixText] = entry.split('/');
      const family = isIP(addr) as 0 | 4 | 6;
      const max = family === 4 ? 32 : 128;
      const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
      if (family === 0 || prefix < 0 || prefix > max) {
        throw new BerthError('CONFIG_INVALID', `BERTH_REMOTE_ALLOW: ${JSON.stringify(entry)} is not loopback, private, an address or a CIDR`);
      }
      // A CIDR wholly inside a never-allowed range would do nothing: say so now. (A wider one opens only what may be opened.)
      const [first, last] = cidrBounds(addr, prefix, family);
      const cls = classify(first);
      if (NEVER.has(cls) && classify(last) === cls) throw new BerthError('CONFIG_INVALID', `BERTH_REMOTE_ALLOW: ${entry} is ${describe(cls)}, which is never allowed`);
      this.cidrs.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
      n++;
    }
    this.cidrCount = n;
    this.lookup = (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (err, found) => {
        if (err) return callback(err, '');
        const allowed = found.filter((a) => this.refusal(a.address) === null);
        if (allowed.length === 0) {
          const why = found[0] ? this.refusal(found[0].address)! : 'nothing';
          return callback(new RemoteAddressForbiddenError(`${hostname} resolves to no address Berth may connect to: ${why}`), '');
        }
        if (options.all) callback(null, allowed);
        else callback(null, allowed[0]!.address, allowed[0]!.family);
      });
    };
  }

  /** Null when Berth may connect to `ip`; otherwise why not (a sentence fragment naming the address). */
  refusal(ip: string): string | null {
    const cls = classify(ip);
    if (cls === 'public') return null;
    if (NEVER.has(cls)) return `${ip} is ${describe(cls)}, never allowed`;
    if (cls === 'loopback' && this.allowLoopback) return null;
    if (cls === 'private' && this.allowPrivate) return null;
    const c = canonical(ip);
    if (this.cidrCount > 0 && this.cidrs.check(c.ip, c.family === 4 ? 'ipv4' : 'ipv6')) return null;
    const how = cls === 'reserved' ? 'a CIDR covering it' : `${cls} or a CIDR covering it`;
    return `${ip} is ${describe(cls)}, not allowed unless BERTH_REMOTE_ALLOW lists ${how}`;
  }

  /**
   * Create-time check of a url deployment's endpoint: a literal address the policy refuses fails at once
   * (REMOTE_ADDRESS_FORBIDDEN). Names are checked when they are resolved, at connect time.
   */
  checkEndpoint(endpoint: string): void {
    let host: string;
    try {
      host = new URL(endpoint).hostname.replace(/^\[(.*)\]$/, '$1');
    } catch {
      return; // the spec schema reports a bad URL
    }
    if (isIP(host) === 0) return;
    const why = this.refusal(host);
    if (why !== null) throw new BerthError('REMOTE_ADDRESS_FORBIDDEN', `spec.endpoint: remote address ${why}`);
  }

  /**
   * An undici connector that refuses what the policy refuses: literal addresses before connecting, names
   * through `lookup` (only allowed addresses are tried), and the socket's peer address once connected.
   */
  connector(options: buildConnector.BuildOptions = {}): buildConnector.connector {
    // undici is loaded with the first remote connection, not with Berth (the policy itself checks create requests).
    const { buildConnector: build } = createRequire(import.meta.url)('undici') as { buildConnector: typeof buildConnector };
    const base = build({ ...options, lookup: this.lookup } as buildConnector.BuildOptions);
    return (opts, callback) => {
      if (isIP(opts.hostname) !== 0) {
        const why = this.refusal(opts.hostname);
        if (why !== null) return callback(new RemoteAddressForbiddenError(`remote address ${why}`), null);
      }
      base(opts, (err, socket) => {
        if (err) return callback(err, null);
        const peer = (socket as Socket).remoteAddress;
        const why = peer === undefined ? 'the connection has no peer address' : this.refusal(peer);
        if (why !== null) {
          (socket as Socket).destroy();
          return callback(new RemoteAddressForbiddenError(`remote address ${why}`), null);
        }
        callback(null, socket!);
      });
    };
  }
}

function describe(cls: AddressClass): string {
  switch (cls) {
    case 'metadata':
      return 'a cloud metadata address';
    case 'link-local':
      return 'a link-local address';
    case 'unspecified':
      return 'an unspecified address';
    case 'multicast':
      return 'a multicast address';
    case 'broadcast':
      return 'the broadcast address';
    case 'loopback':
      return 'a loopback address';
    case 'private':
      return 'a private address';
    case 'reserved':
      return 'a special-purpose address';
    default:
      return 'a public address';
  }
}
