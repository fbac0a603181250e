import type { Kysely } from 'kysely';
import { BerthError } from '../core/index.js';
import { isUniqueViolation, tokenNotFound } from './common.js';
import type { BerthDatabase } from './schema.js';
import { auditFromRow, auditLimit, auditToRow, tokenFromRow, tokenToRow } from './token-rows.js';
import type { AuditEntry, AuditQuery, AuditStore, NewToken, TokenRecord, TokenStore } from './types.js';

/** TokenStore on SQLite or PostgreSQL (same queries on either dialect). */
export class SqlTokenStore implements TokenStore {
  constructor(private readonly db: Kysely<BerthDatabase>) {}

  async createToken(t: NewToken): Promise<TokenRecord> {
    const record: TokenRecord = { ...t, revoked_at: null, last_used_at: null };
    try {
      await this.db.insertInto('tokens').values(tokenToRow(record)).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new BerthError('VALIDATION_FAILED', 'A token with that id or hash exists already');
      throw err;
    }
    return record;
  }

  async findTokenByHash(hash: string): Promise<TokenRecord | undefined> {
    const row = await this.db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row && tokenFromRow(row);
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = await this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row && tokenFromRow(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    const rows = await this.db.selectFrom('tokens').selectAll().orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
    return rows.map(tokenFromRow);
  }

  async revokeToken(id: string, at: string): Promise<TokenRecord> {
    await this.db.updateTable('tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
    const t = await this.getToken(id);
    if (!t) throw tokenNotFound(id);
    return t;
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.db
      .updateTable('tokens')
      .set({ last_used_at: at })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
      .execute();
  }
}

/** AuditStore on SQLite or PostgreSQL. Appends only: the tables' triggers refuse changes anyway. */
export class SqlAuditStore implements AuditStore {
  constructor(private readonly db: Kysely<BerthDatabase>) {}

  async appendAudit(entry: Omit<AuditEntry, 'seq'>): Promise<void> {
    await this.db.insertInto('audit_log').values(auditToRow(entry)).execute();
  }

  async queryAudit(q: AuditQuery): Promise<AuditEntry[]> {
    let query = this.db.selectFrom('audit_log').selectAll();
    if (q.since !== undefined) query = query.where('at', '>=', q.since);
    if (q.until !== undefined) query = query.where('at', '<', q.until);
    if (q.actor !== undefined) query = query.where('actor', '=', q.actor);
    if (q.action !== undefined) query = query.where('action', '=', q.action);
    if (q.target !== undefined) query = query.where('target', '=', q.target);
    if (q.result !== undefined) query = query.where('result', '=', q.result);
    if (q.afterSeq !== undefined) query = query.where('seq', '>', q.afterSeq);
    const rows = await query.orderBy('seq', 'asc').limit(auditLimit(q.limit)).execute();
    return rows.map(auditFromRow);
  }
}
