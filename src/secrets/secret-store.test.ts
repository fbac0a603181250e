import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../store/db.js';
import { runMigrations } from '../store/migrations/index.js';
import { createTempDatabase, withPostgres } from '../store/testing/postgres.js';
import { generateMasterKey, SecretCipher } from './cipher.js';
import { EncryptedSecretStore } from './encrypted-store.js';
import { MemorySecretRows } from './memory-rows.js';
import { runSecretStoreContract } from './secret-store.contract.js';
import { SqlSecretRows } from '../store/secret-rows.js';

runSecretStoreContract('memory', async () => ({ rows: new MemorySecretRows(), cleanup: async () => undefined }));

async function sqliteRows(dir: string) {
  const { db } = openDatabase({ kind: 'sqlite', path: join(dir, 'berth.db') });
  await runMigrations(db);
  return { db, rows: new SqlSecretRows(db, 'sqlite') };
}

runSecretStoreContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-secrets-'));
  const { db, rows } = await sqliteRows(dir);
  return {
    rows,
    cleanup: async () => {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SQLite secret rows on disk', () => {
  it('no file of the database (main, WAL, shared memory) holds a value, or its base64, in plain text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-secrets-'));
    try {
      const { db, rows } = await sqliteRows(dir);
      const store = new EncryptedSecretStore(rows, new SecretCipher(generateMasterKey()));
      const value = `needle-${Date.now()}-in-the-haystack`;
      await store.set('global', 'NEEDLE', value);
      await store.set('dep-abc123', 'NEEDLE', value);
      const needles = [value, Buffer.from(value).toString('base64')].map((n) => Buffer.from(n));
      const scan = () => readdirSync(dir).flatMap((f) => needles.filter((n) => readFileSync(join(dir, f)).includes(n)).map(() => f));
      expect(readdirSync(dir)).toContain('berth.db-wal');
      expect(scan()).toStrictEqual([]);
      await db.destroy(); // checkpoints the WAL into the main file
      expect(scan()).toStrictEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

await withPostgres('the SecretStore contract', () => {
  runSecretStoreContract('postgres', async () => {
    const temp = await createTempDatabase();
    const { db } = openDatabase({ kind: 'postgres', url: temp.url });
    await runMigrations(db);
    return {
      rows: new SqlSecretRows(db, 'postgres'),
      cleanup: async () => {
        await db.destroy();
        await temp.drop();
      },
    };
  });
});
