import { BerthError } from '../../core/errors.js';
import { LogThrottle, andMore } from '../throttle.js';
import type { Session, SessionEndReason } from './session.js';
import type { ClientIdentity, SessionLimits } from '../types.js';

/** Eviction is logged at most once per this long per deployment (it may happen for every new session under attack). */
const LOG_EVERY_MS = 10_000;

/**
 * Who may open a session on a deployment, and at whose expense. Sessions are kept in least-recently-used
 * order (the transport's map: a session is moved to its end whenever it is used). At a cap, the least
 * recently used *idle* session (no stream open, no request in flight, nothing for `evictIdleAfterMs`) makes
 * room: at the deployment's cap
 * any client's, at a token's or an address's own cap only one of its own. Only when nothing eligible is
 * idle is the new session refused (503 TOO_MANY_SESSIONS), so abandoned sessions can no longer lock
 * clients out, and one token or address cannot push out everybody else's sessions.
 */
export class SessionAdmission<T> {
  private readonly counts = new Map<string, number>();
  private readonly quiet = new LogThrottle(LOG_EVERY_MS);
  private readonly perPrincipal: number;
  private readonly perAddress: number;
  private readonly minIdleMs: number;

  constructor(
    private readonly sessions: Map<string, Session<T>>,
    private readonly limits: SessionLimits,
    private readonly end: (session: Session<T>, reason: SessionEndReason) => void,
    private readonly log?: (line: string) => void,
  ) {
    this.perPrincipal = limits.maxSessionsPerPrincipal ?? limits.maxSessions;
    this.perAddress = limits.maxSessionsPerAddress ?? limits.maxSessions;
    this.minIdleMs = limits.evictIdleAfterMs ?? 0;
  }

  /**
   * Room for one more session of `owner` (`starting`: sessions being initialized, not yet in the map).
   * Evicts idle sessions as needed; returns the refusal when there is no room.
   */
  makeRoom(owner: ClientIdentity | undefined, starting: number): BerthError | null {
    if (owner) {
      const { principal, address } = owner;
      const overToken = (): boolean => this.count(principalKey(principal)) >= this.perPrincipal;
      const overAddress = (): boolean => this.count(addressKey(address)) >= this.perAddress;
      const ofToken = (s: Session<T>): boolean => s.owner?.principal === principal;
      const ofAddress = (s: Session<T>): boolean => s.owner?.address === address;
      // At both caps, one session of this token from this address makes room under both.
      if (overToken() && overAddress()) this.evict((s) => ofToken(s) && ofAddress(s), 'its token\'s and address\'s caps');
      if (overToken() && !this.evict(ofToken, `its token's cap of ${this.perPrincipal}`)) {
        return refusal(`this token already has ${this.perPrincipal} sessions on the deployment (BERTH_MAX_SESSIONS_PER_TOKEN) and none of them is idle`);
      }
      if (overAddress() && !this.evict(ofAddress, `its address's cap of ${this.perAddress}`)) {
        return refusal(`this address already has ${this.perAddress} sessions on the deployment (BERTH_MAX_SESSIONS_PER_ADDRESS) and none of them is idle`);
      }
    }
    if (this.sessions.size + starting >= this.limits.maxSessions && !this.evict(() => true, `the deployment's cap of ${this.limits.maxSessions}`)) {
      return refusal(`the deployment has reached its session limit of ${this.limits.maxSessions} (BERTH_MAX_SESSIONS) and none of its sessions is idle`);
    }
    return null;
  }

  /** Ends the least recently used idle session that `match`es, if any, to make room for another. */
  evict(match: (s: Session<T>) => boolean, cap: string): boolean {
    const now = Date.now();
    for (const s of this.sessions.values()) {
      if (s.open > 0 || s.kind !== 'streamable' || now - s.lastSeen < this.minIdleMs || !match(s)) continue;
      const idleS = Math.round((now - s.lastSeen) / 1000);
      this.end(s, 'evicted');
      const quiet = this.quiet.hit();
      // Never the session id: it is the client's credential.
      if (quiet !== null) this.log?.(`bridge: ended the least recently used idle session (idle ${idleS} s) to admit a new one at ${cap} sessions${andMore(quiet)}`);
      return true;
    }
    return false;
  }

  /** `session` (not yet in the map) counts against its owner's caps from now on. */
  own(session: Session<T>, owner: ClientIdentity | undefined): void {
    if (!owner) return;
    session.owner = owner;
    this.add(principalKey(owner.principal), 1);
    this.add(addressKey(owner.address), 1);
  }

  /** The session ended (or was never admitted): its owner's counts go down. Safe to call twice. */
  disown(session: Session<T>): void {
    const owner = session.owner;
    if (!owner) return;
    session.owner = null;
    this.add(principalKey(owner.principal), -1);
    this.add(addressKey(owner.address), -1);
  }

  /** The session was used: it goes to the most recently used end. */
  touch(session: Session<T>): void {
    if (this.sessions.get(session.id) !== session) return;
    this.sessions.delete(session.id);
    this.sessions.set(session.id, session);
  }

  private count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  private add(key: string, n: number): void {
    const v = this.count(key) + n;
    if (v <= 0) this.counts.delete(key);
    else this.counts.set(key, v);
  }
}

const principalKey = (p: string): string => `p:${p}`;
const addressKey = (a: string): string => `a:${a}`;

function refusal(why: string): BerthError {
  return new BerthError('TOO_MANY_SESSIONS', `Too many sessions: ${why}`);
}
