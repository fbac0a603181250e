/** Stores over a fresh SQLite file or a fresh PostgreSQL database, for the store contract suites. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStores, type SqlStores } from '../sql-store.js';
import { createTempDatabase } from './postgres.js';

export interface StoresFixture {
  stores: SqlStores;
  cleanup(): Promise<void>;
}

export async function sqliteStores(prefix = 'berth-store-'): Promise<StoresFixture> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const stores = await openStores({ kind: 'sqlite', path: join(dir, 'berth.db') });
  return {
    stores,
    cleanup: async () => {
      await stores.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function postgresStores(): Promise<StoresFixture> {
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
