import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { MemoryAuditStore, MemoryTokenStore } from './memory-tokens.js';
import { openStores, type SqlStores } from './sql-store.js';
import { runTokenAndAuditContract } from './tokens.contract.js';
import { createTempDatabase, withPostgres } from './testing/postgres.js';

runTokenAndAuditContract('memory', async () => ({ stores: { tokens: new MemoryTokenStore(), audit: new MemoryAuditStore() }, cleanup: async () => undefined }));

async function sqlite(): Promise<{ stores: SqlStores; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-tokens-'));
  const stores = await openStores({ kind: 'sqlite', path: join(dir, 'berth.db') });
  return {
    stores,
    cleanup: async () => {
      await stores.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgres(): Promise<{ stores: SqlStores; cleanup(): Promise<void> }> {
  const temp = await createTempDatabase();
  const stores = await openStores({ kind: 'postgres', url: temp.url });
  return {
    stores,
    cleanup: async () => {
      await stores.close();
      await temp.drop();
    },
  };
}

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
