import { BerthError } from '../core/index.js';
import { tokenNotFound } from './common.js';
import { auditLimit } from './token-rows.js';
import type { AuditEntry, AuditQuery, AuditStore, NewToken, TokenRecord, TokenStore } from './types.js';

/** In-memory TokenStore with the SQL one's behaviour, for other modules' tests. */
export class MemoryTokenStore implements TokenStore {
  readonly #rows = new Map<string, TokenRecord>();

  async createToken(t: NewToken): Promise<TokenRecord> {
    if (this.#rows.has(t.id) || [...this.#rows.values()].some((r) => r.hash === t.hash)) {
      throw new BerthError('VALIDATION_FAILED', 'A token with that id or hash exists already');
    }
    const record: TokenRecord = { ...structuredClone(t), revoked_at: null, last_used_at: null };
    this.#rows.set(t.id, record);
    return structuredClone(record);
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const r = [...this.#rows.values()].find((t) => t.hash === hash);
    return r && structuredClone(r);
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const r = this.#rows.get(id);
    return r && structuredClone(r);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return [...this.#rows.values()].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id)).map((r) => structuredClone(r));
  }

  async revokeToken(id: string, at: string): Promise<TokenRecord> {
    const r = this.#rows.get(id);
    if (!r) throw tokenNotFound(id);
    r.revoked_at ??= at;
    return structuredClone(r);
  }

  async touchToken(id: string, at: string): Promise<void> {
    const r = this.#rows.get(id);
    if (r && (r.last_used_at === null || r.last_used_at < at)) r.last_used_at = at;
  }
}

/** In-memory AuditStore. */
export class MemoryAuditStore implements AuditStore {
  readonly #entries: AuditEntry[] = [];

  async appendAudit(entry: Omit<AuditEntry, 'seq'>): Promise<void> {
    this.#entries.push({ ...structuredClone(entry), seq: this.#entries.length + 1 });
  }

  async queryAudit(q: AuditQuery): Promise<AuditEntry[]> {
    return this.#entries
      .filter(
        (e) =>
          (q.since === undefined || e.at >= q.since) &&
          (q.until === undefined || e.at < q.until) &&
          (q.actor === undefined || e.actor === q.actor) &&
          (q.action === undefined || e.action === q.action) &&
          (q.target === undefined || e.target === q.target) &&
          (q.result === undefined || e.result === q.result) &&
          (q.afterSeq === undefined || e.seq > q.afterSeq),
      )
      .slice(0, auditLimit(q.limit))
      .map((e) => structuredClone(e));
  }
}
