import type { IncomingMessage } from 'node:http';
import { ANONYMOUS, allows, BerthError, type DeploymentAccess, type Need, type Principal } from '../core/index.js';
import type { AuditLog } from '../control/audit.js';

/** Checks a presented token (TokenService.verify). */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

export interface AuthGuardDeps {
  tokens: TokenVerifier;
  audit: Pick<AuditLog, 'denied'>;
  /** A deployment's access, or undefined when there is no such deployment. */
  accessOf(id: string): Promise<DeploymentAccess | undefined>;
  /** The client's address as Berth believes it (trusted proxies considered). */
  sourceOf(req: IncomingMessage): string;
}

const NEEDS: Record<Need, string> = {
  public: 'nothing',
  token: 'any valid token',
  read: 'read (or deploy, admin)',
  deploy: 'deploy (or admin)',
  admin: 'admin',
  invoke: 'invoke:ID (or invoke:*, admin)',
};

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/**
 * Credentials on every route: who a request comes from (its bearer token, or anonymous) and whether
 * that may use the route. A request without a token that needs one gets 401; a token without the
 * scope gets 403. Every refusal goes to the audit log.
 */
export class AuthGuard {
  constructor(private readonly deps: AuthGuardDeps) {}

  /** The request's principal: ANONYMOUS without an Authorization header; throws 401 for a bad one. */
  async principalOf(req: IncomingMessage): Promise<Principal> {
    const header = req.headers.authorization;
    if (header === undefined) return ANONYMOUS;
    const m = BEARER.exec(header);
    if (!m) throw new BerthError('UNAUTHORIZED', 'The Authorization header must be "Bearer TOKEN"');
    return this.deps.tokens.verify(m[1]!);
  }

  /** A control-plane route: resolves to the principal, or throws (and audits) 401/403. `route` names it in the log. */
  async require(req: IncomingMessage, need: Need, route: string): Promise<Principal> {
    if (need === 'public') return this.principalOf(req).catch(() => ANONYMOUS);
    const principal = await this.identify(req, route);
    if (allows(principal, need)) return principal;
    throw this.refuse(req, principal, route, route, NEEDS[need]);
  }

  /** An MCP route of deployment `id`: a token with `invoke:ID` or `invoke:*` (or admin), or anyone when the deployment is public. */
  async invoke(req: IncomingMessage, id: string, route: string): Promise<Principal> {
    const principal = await this.identify(req, route, id);
    if (allows(principal, 'invoke', id)) return principal;
    if ((await this.deps.accessOf(id)) === 'public') return principal;
    throw this.refuse(req, principal, route, id, `invoke:${id} (or invoke:*, admin)`);
  }

  private async identify(req: IncomingMessage, route: string, target: string = route): Promise<Principal> {
    try {
      return await this.principalOf(req);
    } catch (err) {
      if (err instanceof BerthError) {
        this.deps.audit.denied({ principal: ANONYMOUS, action: 'auth.denied', target, source: this.deps.sourceOf(req), code: err.code, detail: { route } });
      }
      throw err;
    }
  }

  private refuse(req: IncomingMessage, principal: Principal, route: string, target: string, needs: string): BerthError {
    const err =
      principal === ANONYMOUS
        ? new BerthError('UNAUTHORIZED', 'An API token is required: send Authorization: Bearer brt_… (berth tokens create)')
        : new BerthError('FORBIDDEN', `The API token ${principal.id} lacks the scope this needs: ${needs}`, { needs });
    this.deps.audit.denied({ principal, action: 'auth.denied', target, source: this.deps.sourceOf(req), code: err.code, detail: { route } });
    return err;
  }
}
