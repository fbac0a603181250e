import pg from 'pg';
import { describe, it } from 'vitest';
import { randomSuffix } from '../../core/index.js';

export const PG_URL = process.env.BERTH_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Undefined when PostgreSQL answers at PG_URL, else why not. */
export async function probePostgres(): Promise<string | undefined> {
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
export async function createTempDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
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

/**
 * Runs `suites` when PostgreSQL answers; otherwise fails under CI=true and skips loudly elsewhere.
 * `what` names the suites in the messages.
 */
export async function withPostgres(what: string, suites: () => void): Promise<void> {
  const problem = await probePostgres();
  if (problem === undefined) {
    suites();
    return;
  }
  if (process.env.CI === 'true') {
    describe(`${what} on PostgreSQL`, () => {
      it('has a PostgreSQL server to test against (required when CI=true)', () => {
        throw new Error(`PostgreSQL is unreachable at ${PG_URL}: ${problem}`);
      });
    });
    return;
  }
  console.warn(
    `\n!!! SKIPPING ${what} on PostgreSQL: no PostgreSQL at ${PG_URL} (${problem}).\n` +
      '!!! Start one (trust auth, database "test") or set BERTH_TEST_POSTGRES_URL; with CI=true this fails.\n',
  );
  describe.skip(`${what}: postgres (PostgreSQL unreachable)`, () => {
    it('needs PostgreSQL', () => undefined);
  });
}
