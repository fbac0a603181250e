import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { MemoryDeploymentStore } from './memory-store.js';
import { MIGRATIONS } from './migrations/index.js';
import { openStore } from './sql-store.js';
import { runDeploymentStoreContract, sampleDeployment } from './store.contract.js';
import { createTempDatabase, withPostgres } from './testing/postgres.js';

runDeploymentStoreContract('memory', async () => ({ store: new MemoryDeploymentStore(), cleanup: async () => undefined }));

runDeploymentStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-store-'));
  const store = await openStore({ kind: 'sqlite', path: join(dir, 'berth.db') });
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

await withPostgres('the DeploymentStore contract and migrations', () => {
  runDeploymentStoreContract('postgres', async () => {
    const temp = await createTempDatabase();
    const store = await openStore({ kind: 'postgres', url: temp.url });
    return {
      store,
      cleanup: async () => {
        await store.close();
        await temp.drop();
      },
    };
  });

  describe('PostgreSQL migrations', () => {
    it('run once when several Berth processes open the same database at the same time', async () => {
      const temp = await createTempDatabase();
      try {
        const stores = await Promise.all(Array.from({ length: 4 }, () => openStore({ kind: 'postgres', url: temp.url })));
        try {
          await Promise.all(stores.map((s, i) => s.create(sampleDeployment(`replica-${i}`))));
          for (const s of stores) expect(await s.list()).toHaveLength(4);
          const first = stores[0];
          if (first === undefined) throw new Error('no store');
          const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(first.db);
          expect(applied.rows.map((r) => r.name)).toStrictEqual(Object.keys(MIGRATIONS).sort());
        } finally {
          await Promise.all(stores.map((s) => s.close()));
        }
      } finally {
        await temp.drop();
      }
    });
  });
});

