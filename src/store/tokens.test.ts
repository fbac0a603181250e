import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { MemoryAuditStore, MemoryTokenStore } from './memory-tokens.js';
import type { SqlStores } from './sql-store.js';
import { runTokenAndAuditContract } from './tokens.contract.js';
import { withPostgres } from './testing/postgres.js';
import { postgresStores, sqliteStores } from './testing/fixtures.js';

runTokenAndAuditContract('memory', async () => ({ stores: { tokens: new MemoryTokenStore(), audit: new MemoryAuditStore() }, cleanup: async () => undefined }));

const sqlite = (): Promise<{ stores: SqlStores; cleanup(): Promise<void> }> => sqliteStores('berth-tokens-');
const postgres = (): Promise<{ stores: SqlStores; cleanup(): Promise<void> }> => postgresStores();

/** Neither an UPDATE nor a DELETE, even written by hand in SQL, can change the audit log. */
function appendOnlySuite(name: string, make: () => Promise<{ stores: SqlStores; cleanup(): Promise<void> }>): void {
  describe(`audit log is append-only in the database: ${name}`, () => {
    it('refuses UPDATE and DELETE on audit_log', async () => {
      const { stores, cleanup } = await make();
      try {
        await stores.audit.appendAudit({ at: '2026-12-07T00:00:00.000Z', actor: 'env', actor_name: 'BERTH_API_TOKEN', action: 'token.create', target: 'tok_a', source: '127.0.0.1', result: 'ok', code: null, detail: null });
        await expect(sql`update audit_log set actor = 'someone else'`.execute(stores.db)).rejects.toThrow(/append-only/);
        await expect(sql`delete from audit_log`.execute(stores.db)).rejects.toThrow(/append-only/);
        expect((await stores.audit.queryAudit({})).map((e) => e.actor)).toStrictEqual(['env']);
      } finally {
        await cleanup();
      }
    });
  });
}

runTokenAndAuditContract('sqlite', sqlite);
appendOnlySuite('sqlite', sqlite);
await withPostgres('the TokenStore and AuditStore contract', () => {
  runTokenAndAuditContract('postgres', postgres);
  appendOnlySuite('postgres', postgres);
});
