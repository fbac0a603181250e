import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Deployment } from '../core/index.js';
import { alreadyExists, checkRequests, isUniqueViolation, monotonicClock, notFound } from './common.js';
import { openDatabase } from './db.js';
import type { DatabaseConfig } from './db.js';
import { runMigrations } from './migrations/index.js';
import { fromRow, initialDeployment, patchToRow, toRow } from './rows.js';
import type { BerthDatabase } from './schema.js';
import { SqlAuditStore, SqlTokenStore } from './sql-tokens.js';
import type { DeploymentPatch, DeploymentStore, NewDeployment, Stores } from './types.js';

export interface SqlStoreOptions {
  /** Clock for created_at / updated_at (tests pin it). */
  now?: () => Date;
}

/** DeploymentStore for SQLite and PostgreSQL: the same queries on either Kysely dialect. */
export class SqlDeploymentStore implements DeploymentStore {
  readonly db: Kysely<BerthDatabase>;
  readonly #clock: () => string;

  constructor(db: Kysely<BerthDatabase>, options: SqlStoreOptions = {}) {
    this.db = db;
    this.#clock = monotonicClock(options.now);
  }

  async create(d: NewDeployment): Promise<Deployment> {
    const deployment = initialDeployment(d, this.#clock());
    try {
      await this.db.insertInto('deployments').values(toRow(deployment)).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw alreadyExists(d.id);
      throw err;
    }
    return deployment;
  }

  async get(id: string): Promise<Deployment | undefined> {
    const row = await this.db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  }

  async list(opts: { includeDeleted?: boolean } = {}): Promise<Deployment[]> {
    let query = this.db.selectFrom('deployments').selectAll();
    if (opts.includeDeleted !== true) query = query.where('status', '!=', 'deleted');
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
    return rows.map(fromRow);
  }

  async update(id: string, patch: DeploymentPatch): Promise<Deployment> {
    const row = await this.db
      .updateTable('deployments')
      .set({ ...patchToRow(patch), updated_at: this.#clock() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw notFound(id);
    return fromRow(row);
  }

  async addRequests(id: string, count: number, lastAt: string): Promise<void> {
    const at = checkRequests(count, lastAt);
    // One statement, so concurrent flushes (from any replica) add up exactly.
    const result = await this.db
      .updateTable('deployments')
      .set((eb) => ({
        request_count: eb('request_count', '+', count),
        last_request_at: sql<string>`case when last_request_at is null or last_request_at < ${at} then ${at} else last_request_at end`,
      }))
      .where('id', '=', id)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw notFound(id);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}


/** Open the database, bring its schema up to date, and return the store. */
export async function openStore(config: DatabaseConfig, options: SqlStoreOptions = {}): Promise<SqlDeploymentStore> {
  const { db } = openDatabase(config);
  try {
    await runMigrations(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new SqlDeploymentStore(db, options);
}


/** Every store over one SQLite or PostgreSQL database (the composition root's default). */
export interface SqlStores extends Stores {
  deployments: SqlDeploymentStore;
  db: Kysely<BerthDatabase>;
}

export async function openStores(config: DatabaseConfig, options: SqlStoreOptions = {}): Promise<SqlStores> {
  const deployments = await openStore(config, options);
  const db = deployments.db;
  return { deployments, tokens: new SqlTokenStore(db), audit: new SqlAuditStore(db), db, close: () => deployments.close() };
}
