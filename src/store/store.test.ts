import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { randomSuffix } from '../core/index.js';
import { MemoryDeploymentStore } from './memory-store.js';
import { openStore } from './sql-store.js';
import { runDeploymentStoreContract, sampleDeployment } from './store.contract.js';

const PG_URL = process.env.BERTH_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

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

/** Undefined when PostgreSQL answers at PG_URL, else why not. */
async function probePostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A uniquely named database for one test, so parallel runs never share tables or migration locks. */
async function createTempDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `berth_test_${process.pid}_${randomSuffix(10)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name}" with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

const pgProblem = await probePostgres();

if (pgProblem === undefined) {
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
          expect(applied.rows.map((r) => r.name)).toStrictEqual(['001_deployments']);
        } finally {
          await Promise.all(stores.map((s) => s.close()));
        }
      } finally {
        await temp.drop();
      }
    });
  });
} else if (process.env.CI === 'true') {
  describe('PostgreSQL store', () => {
    it('has a PostgreSQL server to test against (required when CI=true)', () => {
      throw new Error(`PostgreSQL is unreachable at ${PG_URL}: ${pgProblem}`);
    });
  });
} else {
  console.warn(
    `\n!!! SKIPPING the PostgreSQL DeploymentStore suite: no PostgreSQL at ${PG_URL} (${pgProblem}).\n` +
      '!!! Start one (trust auth, database "test") or set BERTH_TEST_POSTGRES_URL; with CI=true this fails.\n',
  );
  describe.skip('DeploymentStore contract: postgres (PostgreSQL unreachable)', () => {
    it('needs PostgreSQL', () => undefined);
  });
}
