import { z } from 'zod';
import { BerthError } from '../core/errors.js';
import { durationMs, hashToken, newToken, newTokenId, parseOrThrow, parseScope, TOKEN_PATTERN, type Principal, type Scope } from '../core/index.js';
import type { TokenRecord, TokenStore } from '../store/types.js';

/** A token as the API shows it: its record without the hash (and never the token), and whether it can be used. */
export interface TokenView extends Omit<TokenRecord, 'hash'> {
  status: 'active' | 'expired' | 'revoked';
}

/** The answer to creating a token: the only time the token itself is shown. */
export interface CreatedToken extends TokenView {
  token: string;
}

/** `30d`, `12h`, `90m`, `2w`, `1y` in milliseconds; throws VALIDATION_FAILED otherwise. */
export function parseDuration(raw: string): number {
  const ms = durationMs(raw.trim(), ['m', 'h', 'd', 'w', 'y']);
  if (!ms) {
    throw new BerthError('VALIDATION_FAILED', `expires_in must be a positive duration such as 30d, 12h, 90m, 2w or 1y, got ${JSON.stringify(raw.slice(0, 40))}`, {
      issues: [{ field: 'expires_in', message: 'not a duration' }],
    });
  }
  return ms;
}

const CreateTokenSchema = z.strictObject({
  name: z.string().trim().min(1).max(100).optional(),
  scopes: z.array(z.string()).min(1, 'name at least one scope').max(64),
  expires_in: z.string().max(20).optional(),
  expires_at: z.iso.datetime({ offset: true }).optional(),
});

export interface TokenServiceDeps {
  tokens: TokenStore;
  /** BERTH_API_TOKEN: an admin credential the operator supplies; never stored. */
  envToken?: string;
  now?: () => number;
  /** How long a looked-up token (or a miss) is believed before the store is asked again (default 5 s). */
  cacheTtlMs?: number;
  /** Most cached lookups (default 10 000). */
  cacheMax?: number;
  /** last_used_at is written at most this often per token (default 60 s). */
  touchEveryMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

interface Cached {
  /** The stored token, `env` for BERTH_API_TOKEN, or null for a token the store does not know. */
  record: TokenRecord | 'env' | null;
  until: number;
}

/**
 * API tokens: creation (shown once, stored hashed), listing, revocation, and checking a presented
 * token on every request. Lookups are cached briefly; a revocation clears this replica's cache at
 * once, and other replicas see it within the cache lifetime.
 */
export class TokenService {
  private readonly now: () => number;
  private readonly cache = new Map<string, Cached>();
  private readonly ttl: number;
  private readonly max: number;
  private readonly touchEvery: number;
  private readonly touched = new Map<string, number>();
  private readonly envHash: string | undefined;

  constructor(private readonly deps: TokenServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.ttl = deps.cacheTtlMs ?? 5_000;
    this.max = deps.cacheMax ?? 10_000;
    this.touchEvery = deps.touchEveryMs ?? 60_000;
    this.envHash = deps.envToken ? hashToken(deps.envToken) : undefined;
  }

  async create(body: unknown, by: Principal): Promise<CreatedToken> {
    const input = parseOrThrow(CreateTokenSchema, body, 'token');
    const scopes = [...new Set(input.scopes.map(parseScope))];
    if (input.expires_in !== undefined && input.expires_at !== undefined) {
      throw new BerthError('VALIDATION_FAILED', 'Give expires_in or expires_at, not both', { issues: [{ field: 'expires_at', message: 'conflicts with expires_in' }] });
    }
    const now = this.now();
    const expires = input.expires_in !== undefined ? now + parseDuration(input.expires_in) : input.expires_at !== undefined ? Date.parse(input.expires_at) : null;
    if (expires !== null && expires <= now) {
      throw new BerthError('VALIDATION_FAILED', 'expires_at must be in the future', { issues: [{ field: 'expires_at', message: 'in the past' }] });
    }
    return this.issue(input.name ?? scopes.join(' '), scopes, expires === null ? null : new Date(expires).toISOString(), by.id);
  }

  async list(): Promise<TokenView[]> {
    return (await this.deps.tokens.listTokens()).map((t) => this.view(t));
  }

  async revoke(id: string): Promise<TokenView> {
    const t = await this.deps.tokens.revokeToken(id, new Date(this.now()).toISOString());
    for (const [key, c] of this.cache) if (c.record !== 'env' && c.record?.id === id) this.cache.delete(key);
    return this.view(t);
  }

  /**
   * The principal a presented token stands for. Throws UNAUTHORIZED (unknown or malformed),
   * TOKEN_EXPIRED or TOKEN_REVOKED.
   */
  async verify(token: string): Promise<Principal> {
    const now = this.now();
    // Keyed by the presented token (it is in this process's memory anyway): a hit needs no hashing.
    let cached = this.cache.get(token);
    if (!cached || cached.until <= now) {
      const hash = hashToken(token);
      if (this.envHash !== undefined && hash === this.envHash) cached = { record: 'env', until: now + this.ttl };
      // Not even shaped like a token: no store lookup (and no cache entry) for garbage.
      else if (!TOKEN_PATTERN.test(token)) throw unknownToken();
      else cached = { record: (await this.deps.tokens.findTokenByHash(hash)) ?? null, until: now + this.ttl };
      setBounded(this.cache, token, cached, this.max);
    }
    const t = cached.record;
    if (t === 'env') return ENV_PRINCIPAL;
    if (!t) throw unknownToken();
    if (t.revoked_at !== null) throw new BerthError('TOKEN_REVOKED', `The API token ${t.id} was revoked at ${t.revoked_at}`);
    if (t.expires_at !== null && Date.parse(t.expires_at) <= now) throw new BerthError('TOKEN_EXPIRED', `The API token ${t.id} expired at ${t.expires_at}`);
    this.touch(t.id, now);
    return { id: t.id, name: t.name, scopes: t.scopes };
  }

  /**
   * Makes sure an admin can get in: when no BERTH_API_TOKEN is set and no active admin token exists
   * (a first start, or every admin token revoked or expired), creates one and returns it, to be shown
   * once. Returns null when nothing was needed.
   */
  async bootstrap(): Promise<CreatedToken | null> {
    if (this.envHash !== undefined) return null;
    const now = this.now();
    const usable = (await this.deps.tokens.listTokens()).some((t) => t.scopes.includes('admin') && t.revoked_at === null && (t.expires_at === null || Date.parse(t.expires_at) > now));
    if (usable) return null;
    return this.issue('admin (created at start)', ['admin'], null, 'bootstrap');
  }

  private async issue(name: string, scopes: Scope[], expiresAt: string | null, by: string): Promise<CreatedToken> {
    const token = newToken();
    const record = await this.deps.tokens.createToken({
      id: newTokenId(),
      name,
      hash: hashToken(token),
      prefix: token.slice(0, 8),
      scopes,
      created_at: new Date(this.now()).toISOString(),
      created_by: by,
      expires_at: expiresAt,
    });
    return { ...this.view(record), token };
  }

  private touch(id: string, now: number): void {
    const last = this.touched.get(id);
    if (last !== undefined && now - last < this.touchEvery) return;
    setBounded(this.touched, id, now, this.max);
    this.deps.tokens.touchToken(id, new Date(now).toISOString()).catch((err: unknown) => this.deps.log?.('token use not recorded', { error: String(err) }));
  }

  private view({ hash: _hash, ...t }: TokenRecord): TokenView {
    const status = t.revoked_at !== null ? 'revoked' : t.expires_at !== null && Date.parse(t.expires_at) <= this.now() ? 'expired' : 'active';
    return { ...t, status };
  }
}

/** The operator's BERTH_API_TOKEN. */
export const ENV_PRINCIPAL: Principal = Object.freeze({ id: 'env', name: 'BERTH_API_TOKEN', scopes: Object.freeze(['admin']) as readonly Scope[] });

/** Sets `key` as the newest entry of `map`, forgetting the oldest when `map` holds `max` already. */
function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  if (map.size >= max) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

function unknownToken(): BerthError {
  return new BerthError('UNAUTHORIZED', 'The API token is not valid (Authorization: Bearer brt_…)');
}
