import { createHash, randomBytes } from 'node:crypto';
import { BerthError } from './errors.js';
import { GROUP_NAME } from './group.js';
import { DEPLOYMENT_ID_PATTERN } from './ids.js';

/**
 * What a token may do. `admin` may do everything; `deploy` manages deployments and their secrets
 * (and reads); `read` sees deployments, status and logs; `invoke:ID` talks MCP to deployment ID,
 * `invoke:group:NAME` to group NAME (and, through it only, to its members), `invoke:*` to every deployment and group. Invoking is separate from managing on purpose: a token handed to
 * an MCP client should not be able to deploy, and a CI token that deploys need not call tools.
 */
export type Scope = 'admin' | 'deploy' | 'read' | 'invoke:*' | `invoke:${string}`;

/**
 * What a route needs. `token`: any valid token, whatever its scopes. `invoke` is checked against the
 * deployment the request addresses.
 */
export type Need = 'public' | 'token' | 'read' | 'deploy' | 'admin' | 'invoke';

export const BASE_SCOPES = ['admin', 'deploy', 'read'] as const;

/** Who made a request, once its credential checked out. */
export interface Principal {
  /** The token's id (`tok_…`), `env` for BERTH_API_TOKEN, or `anonymous`. */
  readonly id: string;
  readonly name: string;
  readonly scopes: readonly Scope[];
  /** The address of the client it acts for: set only by Berth's own group relay credential (its caps count that client). */
  readonly address?: string;
}

export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', name: 'anonymous', scopes: Object.freeze([]) as readonly Scope[] });

/** A scope string, checked: one of the base scopes, `invoke:*`, or `invoke:` and a deployment id. */
export function parseScope(raw: string): Scope {
  const s = raw.trim();
  if ((BASE_SCOPES as readonly string[]).includes(s) || s === 'invoke:*') return s as Scope;
  if (s.startsWith('invoke:') && DEPLOYMENT_ID_PATTERN.test(s.slice('invoke:'.length))) return s as Scope;
  if (s.startsWith('invoke:group:') && GROUP_NAME.test(s.slice('invoke:group:'.length))) return s as Scope;
  throw new BerthError('VALIDATION_FAILED', `Unknown scope ${JSON.stringify(raw.slice(0, 80))}: use admin, deploy, read, invoke:*, invoke:DEPLOYMENT_ID or invoke:group:GROUP`, {
    issues: [{ field: 'scopes', message: 'unknown scope' }],
  });
}

/** True when `principal` may use a route that needs `need` (for `invoke`, on deployment `deploymentId`, or `group:NAME` for a group). */
export function allows(principal: Principal, need: Need, deploymentId?: string): boolean {
  if (need === 'public') return true;
  if (need === 'token') return principal.id !== ANONYMOUS.id;
  const scopes = principal.scopes;
  if (scopes.includes('admin')) return true;
  switch (need) {
    case 'admin':
      return false;
    case 'deploy':
      return scopes.includes('deploy');
    case 'read':
      return scopes.includes('deploy') || scopes.includes('read');
    case 'invoke':
      return scopes.includes('invoke:*') || (deploymentId !== undefined && scopes.includes(`invoke:${deploymentId}`));
  }
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const TOKEN_PREFIX = 'brt_';
/** Random characters after the prefix: 43 base62 characters carry 256 bits. */
const TOKEN_CHARS = 43;
/** `brt_` and at least 32 base62 characters, so secret scanners can recognise a Berth token. */
export const TOKEN_PATTERN = /^brt_[A-Za-z0-9]{32,}$/;

/** Uniform random base62 characters (rejection sampling: no modulo bias). */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248) out += BASE62[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A new API token: `brt_` and 43 random base62 characters. Shown once; only its hash is kept. */
export function newToken(): string {
  return `${TOKEN_PREFIX}${randomBase62(TOKEN_CHARS)}`;
}

/** A token's id, shown in listings and the audit log, never usable as a credential. */
export function newTokenId(): string {
  return `tok_${randomBase62(12)}`;
}

/**
 * What is stored for a token: its SHA-256. Tokens carry 256 random bits, so a fast hash is enough
 * (a slow password hash protects low-entropy secrets, and would cost every gateway request).
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
