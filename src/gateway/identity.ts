import type { ClientIdentity } from '../mcp/types.js';

/**
 * Who sent a request, as session caps and rate limits count it: the token's id, and the client's address
 * (`raw`: the socket's peer, or a trusted proxy's X-Forwarded-For). Anonymous clients (of public
 * deployments) are counted apart by address, so one of them cannot use up every other's share.
 */
export function clientIdentity(principalId: string, raw: string | undefined): ClientIdentity {
  const address = clientAddress(raw);
  return { principal: principalId === 'anonymous' ? `anonymous@${address}` : principalId, address };
}

/**
 * The address the caps count a client by: an IPv4 address as it is (also when it comes IPv4-mapped, as on a
 * dual-stack listener), an IPv6 address by its /64 (one host usually has a whole /64 to pick addresses from).
 */
export function clientAddress(raw: string | undefined): string {
  if (!raw) return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(raw);
  if (mapped) return mapped[1]!;
  if (!raw.includes(':')) return raw;
  return ipv6Prefix64(raw) ?? raw;
}

/** `2001:db8:1:2::/64` for any address in that /64; null when `addr` is not IPv6 text. */
function ipv6Prefix64(addr: string): string | null {
  const bare = addr.split('%')[0]!.toLowerCase();
  const halves = bare.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string | undefined): string[] => (s ? s.split(':') : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  // An embedded IPv4 address at the end stands for two groups.
  const width = (g: string[]): number => g.reduce((n, x) => n + (x.includes('.') ? 2 : 1), 0);
  const missing = 8 - width(head) - width(tail);
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  const first = all.slice(0, 4);
  if (first.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  return `${first.map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
