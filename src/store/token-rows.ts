import type { Scope } from '../core/index.js';
import type { AuditTable, TokensTable } from './schema.js';
import type { AuditEntry, TokenRecord } from './types.js';

/** Tokens and audit entries to rows and back (JSON columns, bigint seq). */
export function tokenToRow(t: TokenRecord): TokensTable {
  return { ...t, scopes: JSON.stringify(t.scopes) };
}

export function tokenFromRow(row: TokensTable): TokenRecord {
  return {
    id: row.id,
    name: row.name,
    hash: row.hash,
    prefix: row.prefix,
    scopes: JSON.parse(row.scopes) as Scope[],
    created_at: row.created_at,
    created_by: row.created_by,
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
    last_used_at: row.last_used_at,
  };
}

export function auditToRow(e: Omit<AuditEntry, 'seq'>): Omit<AuditTable, 'seq'> {
  return { ...e, detail: e.detail === null ? null : JSON.stringify(e.detail) };
}

export function auditFromRow(row: Omit<AuditTable, 'seq'> & { seq: number | string }): AuditEntry {
  return {
    seq: Number(row.seq),
    at: row.at,
    actor: row.actor,
    actor_name: row.actor_name,
    action: row.action,
    target: row.target,
    source: row.source,
    result: row.result as AuditEntry['result'],
    code: row.code,
    detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>),
  };
}

/** The most entries one audit query returns. */
export const AUDIT_QUERY_MAX = 10_000;

export function auditLimit(limit: number | undefined): number {
  return Math.max(1, Math.min(AUDIT_QUERY_MAX, Math.floor(limit ?? 1000)));
}
