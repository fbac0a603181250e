import type { IncomingMessage } from 'node:http';
import type { Need } from './auth.js';
import type { BerthError } from './errors.js';

// HTTP edge pieces that the control API and the gateway both use (they sit side by side and do not
// import each other).

/** Every route says what it needs; a route that changes anything names its audit action. */
export interface RouteRule {
  need: Need;
  /** The audit log's action for a mutation, e.g. `deployment.create`. Required for every method but GET. */
  audit?: string;
}

/** One route as the authorization matrix and the docs see it. */
export interface RouteInfo extends RouteRule {
  method: string;
  path: string;
}

/** The Retry-After header a refusal asks for (RATE_LIMITED, SERVER_BUSY carry `details.retryAfterS`). */
export function retryAfterHeader(err: BerthError): Record<string, string> {
  const s = (err.details as { retryAfterS?: unknown } | undefined)?.retryAfterS;
  return typeof s === 'number' && s > 0 ? { 'retry-after': String(Math.ceil(s)) } : {};
}

/** The `WWW-Authenticate` header of a 401 or 403 (RFC 6750), or null for other errors. */
export function authChallenge(e: BerthError, req: IncomingMessage): string | null {
  if (e.status === 403 && e.code === 'FORBIDDEN') return 'Bearer realm="berth", error="insufficient_scope"';
  if (e.status !== 401) return null;
  return req.headers.authorization === undefined ? 'Bearer realm="berth"' : 'Bearer realm="berth", error="invalid_token"';
}
