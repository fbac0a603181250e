import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { Kysely, PostgresDialect } from 'kysely';
import type { Pool } from 'pg';
import { BerthError } from '../core/index.js';
import type { BerthDatabase } from './schema.js';
import { BerthSqliteDialect } from './sqlite-dialect.js';

export type DatabaseConfig = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
export type DialectName = DatabaseConfig['kind'];

export interface OpenedDatabase {
  db: Kysely<BerthDatabase>;
  dialect: DialectName;
}

// Each database's driver is loaded when a database of that kind is opened: a SQLite Berth never loads pg.
const load = createRequire(import.meta.url);

/** How long a SQLite writer waits for another one before failing with SQLITE_BUSY. */
const SQLITE_BUSY_TIMEOUT_MS = 5_000;

/** Open a Kysely instance for either dialect. Nothing is migrated here (see runMigrations). */
export function openDatabase(config: DatabaseConfig): OpenedDatabase {
  if (config.kind === 'sqlite') return { db: openSqlite(config.path), dialect: 'sqlite' };
  if (config.kind === 'postgres') return { db: openPostgres(config.url), dialect: 'postgres' };
  throw new BerthError('CONFIG_INVALID', `Unknown database kind ${JSON.stringify((config as { kind: unknown }).kind)}`);
}

function openSqlite(path: string): Kysely<BerthDatabase> {
  if (typeof path !== 'string' || path.trim() === '') {
    throw new BerthError('CONFIG_INVALID', 'SQLite database path must not be empty');
  }
  const inMemory = path === ':memory:';
  if (!inMemory) mkdirSync(dirname(resolve(path)), { recursive: true });
  const Sqlite = load('better-sqlite3') as typeof Database;
  const raw = new Sqlite(path, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    if (!inMemory) enableWal(raw);
    raw.pragma('synchronous = NORMAL');
    raw.pragma('foreign_keys = ON');
    raw.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  } catch (err) {
    raw.close();
    throw err;
  }
  return new Kysely<BerthDatabase>({ dialect: new BerthSqliteDialect({ database: raw }) });
}

/**
 * Switch the file to WAL. Switching needs an exclusive lock and SQLite reports
 * SQLITE_BUSY at once (no busy handler) while another process is opening the same
 * new file, so retry for up to the busy timeout. Once a file is in WAL it stays so.
 */
function enableWal(raw: Database.Database): void {
  const deadline = Date.now() + SQLITE_BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      if (raw.pragma('journal_mode', { simple: true }) === 'wal') return;
      if (raw.pragma('journal_mode = WAL', { simple: true }) === 'wal') return;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new BerthError('INTERNAL', 'Could not switch the SQLite database to WAL mode');
    sleepSync(20);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function openPostgres(url: string): Kysely<BerthDatabase> {
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
    throw new BerthError('CONFIG_INVALID', 'PostgreSQL url must start with postgres:// or postgresql://');
  }
  const { Pool: PgPool } = load('pg') as { Pool: new (config: { connectionString: string; max: number }) => Pool };
  const pool = new PgPool({ connectionString: url, max: 10 });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  return new Kysely<BerthDatabase>({ dialect: new PostgresDialect({ pool }) });
}
