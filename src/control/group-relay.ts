/**
 * The credential a group's sessions reach its members with, through Berth's own gateway on loopback:
 * `brg_NAME.WHO.MAC`, where WHO names the group's client (its token's principal and its address, base64url JSON)
 * and MAC is an HMAC of `NAME.WHO` under a key made at each Berth start (in memory only, never stored or logged).
 * Its principal may invoke exactly the group's members as they are when it is used, and stands for that one
 * client: the members' per-token rate limits and session caps count each group client apart (`relay:NAME:WHO`),
 * and their per-address caps see the client's own address instead of 127.0.0.1.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BerthError, GROUP_NAME, type Principal, type Scope } from '../core/index.js';
import type { ClientIdentity } from '../mcp/types.js';

/** Longest relay token accepted (principal ids and addresses are short; anything longer was never one of ours). */
const MAX_TOKEN = 1024;

export class GroupRelay {
  private readonly key = randomBytes(32);

  constructor(private readonly membersOf: (group: string) => Promise<string[] | undefined>) {}

  /** The token a session of `group` uses for client `owner` (null: a client the gateway did not identify). */
  tokenFor(group: string, owner: ClientIdentity | null): string {
    const who = Buffer.from(JSON.stringify(owner ? { p: owner.principal, a: owner.address } : {})).toString('base64url');
    return `brg_${group}.${who}.${this.mac(`${group}.${who}`)}`;
  }

  /** The principal of a relay token, or null when `token` is not one (a forged or stale one is refused: UNAUTHORIZED). */
  async verify(token: string): Promise<Principal | null> {
    if (!token.startsWith('brg_')) return null;
    const parts = token.slice(4).split('.');
    const invalid = (): BerthError => new BerthError('UNAUTHORIZED', 'This group relay credential is not valid (Berth restarted, or it was never one)');
    if (token.length > MAX_TOKEN || parts.length !== 3) throw invalid();
    const [group, who, mac] = parts as [string, string, string];
    const given = Buffer.from(mac);
    const want = Buffer.from(this.mac(`${group}.${who}`));
    if (!GROUP_NAME.test(group) || given.length !== want.length || !timingSafeEqual(given, want)) throw invalid();
    const owner = JSON.parse(Buffer.from(who, 'base64url').toString('utf8')) as { p?: string; a?: string };
    const members = (await this.membersOf(group)) ?? [];
    const scopes = members.map((id) => `invoke:${id}` as Scope);
    if (typeof owner.p !== 'string' || typeof owner.a !== 'string') return { id: `group:${group}`, name: `group ${group}`, scopes };
    return { id: `relay:${group}:${owner.p}`, name: `group ${group} for ${owner.p}`, scopes, address: owner.a };
  }

  private mac(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url');
  }
}
