import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { BerthError } from '../core/errors.js';

export interface HostGuardOptions {
  /** Host header values accepted: `name`, `name:port`, `*.domain`, or `*` for any. */
  allowedHosts: string[];
  /** Origins accepted from browsers: `scheme://host[:port]`, `*.domain` patterns, or `*`. Requests without Origin pass. */
  allowedOrigins: string[];
  /** Addresses or CIDRs (or `loopback`) whose X-Forwarded-Host / X-Forwarded-Proto are believed. */
  trustedProxies: string[];
}

interface HostRule {
  suffix: string | null;
  name: string;
  port: string | null;
  /** A loopback name (localhost, 127.x, [::1]): it only counts on a connection that arrived on a loopback address. */
  loopback: boolean;
}

/**
 * Defence against DNS rebinding: a request must name an allowed Host, and a browser's Origin must be
 * an allowed one (matched exactly, unless the operator configures patterns). Behind a reverse proxy,
 * X-Forwarded-Host is honoured only from trusted proxy addresses. A loopback Host name (`localhost`)
 * is believed only on a connection that arrived on a loopback address: on a network socket it would
 * be a claim anyone can make.
 */
export class HostGuard {
  private readonly anyHost: boolean;
  private readonly hosts: HostRule[];
  private readonly anyOrigin: boolean;
  private readonly origins: Set<string>;
  private readonly originHosts: HostRule[];
  private readonly proxies = new BlockList();
  private readonly hasProxies: boolean;

  constructor(opts: HostGuardOptions) {
    this.anyHost = opts.allowedHosts.includes('*');
    this.hosts = opts.allowedHosts.filter((h) => h !== '*').map(parseHostRule);
    this.anyOrigin = opts.allowedOrigins.includes('*');
    this.origins = new Set(opts.allowedOrigins.filter((o) => o.includes('://')).map((o) => o.toLowerCase().replace(/\/+$/, '')));
    this.originHosts = opts.allowedOrigins.filter((o) => o !== '*' && !o.includes('://')).map(parseHostRule);
    for (const p of opts.trustedProxies) addProxy(this.proxies, p);
    this.hasProxies = opts.trustedProxies.length > 0;
  }

  /** The host the client asked for: X-Forwarded-Host from a trusted proxy, else Host; lower case. */
  effectiveHost(req: IncomingMessage): string {
    return (this.forwardedHost(req) ?? req.headers.host ?? '').toLowerCase();
  }

  /** The client's address: the first X-Forwarded-For entry from a trusted proxy, else the socket's peer. */
  clientAddress(req: IncomingMessage): string {
    if (this.hasProxies && this.fromTrustedProxy(req)) {
      const fwd = req.headers['x-forwarded-for'];
      const first = (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim();
      if (first && (isIPv4(first) || isIPv6(first))) return first;
    }
    return plainAddress(req.socket.remoteAddress ?? '');
  }

  /** Null when the request may proceed, else the error to answer with. `host` is effectiveHost(req). */
  check(req: IncomingMessage, host: string): BerthError | null {
    const onLoopback = this.forwardedHost(req) === undefined && isLoopbackAddress(req.socket.localAddress ?? '');
    if (!this.anyHost && !this.hosts.some((r) => (onLoopback || !r.loopback) && matches(r, host))) {
      return new BerthError('FORBIDDEN_HOST', `Host ${JSON.stringify(host)} is not allowed (BERTH_ALLOWED_HOSTS)`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.anyOrigin && !this.originAllowed(origin.toLowerCase())) {
      return new BerthError('FORBIDDEN_ORIGIN', `Origin ${JSON.stringify(origin)} is not allowed (BERTH_ALLOWED_ORIGINS)`);
    }
    return null;
  }

  private originAllowed(origin: string): boolean {
    if (this.origins.has(origin)) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    return this.originHosts.some((r) => matches(r, url.host));
  }

  private forwardedHost(req: IncomingMessage): string | undefined {
    if (!this.hasProxies || !this.fromTrustedProxy(req)) return undefined;
    const fwd = req.headers['x-forwarded-host'];
    return (Array.isArray(fwd) ? fwd[0] : fwd)?.split(',')[0]?.trim() || undefined;
  }

  private fromTrustedProxy(req: IncomingMessage): boolean {
    const addr = plainAddress(req.socket.remoteAddress ?? '');
    if (isIPv4(addr)) return this.proxies.check(addr, 'ipv4');
    if (isIPv6(addr)) return this.proxies.check(addr, 'ipv6');
    return false;
  }
}

function parseHostRule(raw: string): HostRule {
  const s = raw.trim().toLowerCase();
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(s);
  const name = m?.[1] ?? s;
  const port = m?.[2] ?? null;
  const loopback = name === 'localhost' || name.endsWith('.localhost') || name === '[::1]' || (isIPv4(name) && name.startsWith('127.'));
  if (name.startsWith('*.')) return { suffix: name.slice(1), name, port, loopback };
  return { suffix: null, name, port, loopback };
}

/** `::ffff:1.2.3.4` as `1.2.3.4`. */
function plainAddress(addr: string): string {
  return addr.startsWith('::ffff:') && isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
}

/** 127.0.0.0/8 or ::1 (IPv4-mapped forms included). */
export function isLoopbackAddress(addr: string): boolean {
  const a = plainAddress(addr);
  return (isIPv4(a) && a.startsWith('127.')) || a === '::1';
}

function matches(rule: HostRule, hostHeader: string): boolean {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostHeader);
  if (!m) return false;
  const [, name, port] = m;
  if (rule.port !== null && rule.port !== (port ?? null)) return false;
  if (rule.suffix !== null) return name!.endsWith(rule.suffix) && name!.length > rule.suffix.length;
  return name === rule.name;
}

function addProxy(list: BlockList, entry: string): void {
  const e = entry.trim();
  if (e === 'loopback') {
    list.addSubnet('127.0.0.0', 8, 'ipv4');
    list.addAddress('::1', 'ipv6');
    return;
  }
  const [addr, bits] = e.split('/');
  const type = isIPv4(addr ?? '') ? 'ipv4' : isIPv6(addr ?? '') ? 'ipv6' : null;
  if (!type) throw new BerthError('CONFIG_INVALID', `BERTH_TRUSTED_PROXIES: ${JSON.stringify(entry)} is not an IP address or CIDR`);
  if (bits === undefined) list.addAddress(addr!, type);
  else {
    const prefix = Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) {
      throw new BerthError('CONFIG_INVALID', `BERTH_TRUSTED_PROXIES: bad prefix in ${JSON.stringify(entry)}`);
    }
    list.addSubnet(addr!, prefix, type);
  }
}

/** Hosts Berth answers to when BERTH_ALLOWED_HOSTS is not set: loopback names, the public URL's host, `*.BASE_DOMAIN`. */
export function defaultAllowedHosts(publicUrl: string, bindHost: string, baseDomain?: string): string[] {
  const hosts = ['localhost', '127.0.0.1', '[::1]', new URL(publicUrl).hostname];
  if (bindHost !== '0.0.0.0' && bindHost !== '::') hosts.push(bindHost.includes(':') ? `[${bindHost}]` : bindHost);
  if (baseDomain) hosts.push(`*.${baseDomain}`, baseDomain);
  return [...new Set(hosts)];
}

/**
 * Origins accepted when BERTH_ALLOWED_ORIGINS is not set: Berth's own pages, exactly. That is the
 * public URL's origin and, when it is a loopback URL, the same port under the other loopback names.
 * No other page, not even one on another loopback port, may drive Berth from a browser.
 */
export function defaultAllowedOrigins(publicUrl: string): string[] {
  const url = new URL(publicUrl);
  const origins = [url.origin];
  if (isLoopbackAddress(url.hostname.replace(/^\[|\]$/g, '')) || url.hostname === 'localhost') {
    for (const name of ['localhost', '127.0.0.1', '[::1]']) origins.push(`${url.protocol}//${name}${url.port ? `:${url.port}` : ''}`);
  }
  return [...new Set(origins)];
}
