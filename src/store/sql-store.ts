import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { Deployment, Revision } from '../core/index.js';
import { alreadyExists, checkRequests, isUniqueViolation, monotonicClock, nameTaken, notFound } from './common.js';
import { openDatabase } from './db.js';
import type { DatabaseConfig } from './db.js';
import { runMigrations } from './migrations/index.js';
import { fromRow, initialDeployment, newRevision, patchToRow, revisionFromRow, revisionToRow, toRow } from './rows.js';
import type { BerthDatabase } from './schema.js';
import { SqlIdempotencyStore } from './sql-idempotency.js';
import { SqlAuditStore, SqlTokenStore } from './sql-tokens.js';
import { SqlGroupStore } from './groups.js';
import { SqlEmbeddingStore } from './embeddings.js';
import type { DeploymentPatch, DeploymentStore, NewDeployment, NewRevision, Stores } from './types.js';

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
    const first = newRevision(d.id, 1, { spec: d.spec, env_schema: d.env_schema, reason: 'create', from_revision: null, created_by: d.created_by ?? null }, deployment.created_at);
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('deployments').values(toRow(deployment)).execute();
        await trx.insertInto('revisions').values(revisionToRow(first)).execute();
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      if (await this.findByName(d.name)) throw nameTaken(d.name);
      throw alreadyExists(d.id);
    }
    return deployment;
  }

  async findByName(name: string): Promise<Deployment | undefined> {
    const row = await this.db.selectFrom('deployments').selectAll().where('name', '=', name).where('desired', '!=', 'deleted').executeTakeFirst();
    return row === undefined ? undefined : fromRow(row);
  }

  async addRevision(id: string, r: NewRevision): Promise<{ deployment: Deployment; revision: Revision }> {
    return this.db.transaction().execute(async (trx) => {
      // The deployment's revision is always its newest: bumping it in the update locks the row, so concurrent
      // callers get the numbers one after another.
      const now = this.#clock();
      const row = await trx
        .updateTable('deployments')
        .set((eb) => ({ spec: JSON.stringify(r.spec), env_schema: JSON.stringify(r.env_schema), revision: eb('revision', '+', 1), generation: eb('generation', '+', 1), updated_at: now }))
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      if (row === undefined) throw notFound(id);
      const deployment = fromRow(row);
      const revision = newRevision(id, deployment.revision, r, now);
      await trx.insertInto('revisions').values(revisionToRow(revision)).execute();
      return { deployment, revision };
    });
  }

  async listRevisions(id: string): Promise<Revision[]> {
    const rows = await this.db.selectFrom('revisions').selectAll().where('deployment_id', '=', id).orderBy('number', 'desc').execute();
    return rows.map(revisionFromRow);
  }

  async getRevision(id: string, number: number): Promise<Revision | undefined> {
    const row = await this.db.selectFrom('revisions').selectAll().where('deployment_id', '=', id).where('number', '=', number).executeTakeFirst();
    return row === undefined ? undefined : revisionFromRow(row);
  }

  async setSnapshot(id: string, number: number, snapshot: Record<string, unknown> | null): Promise<void> {
    await this.db
      .updateTable('revisions')
      .set({ snapshot: snapshot === null ? null : JSON.stringify(snapshot) })
      .where('deployment_id', '=', id)
      .where('number', '=', number)
      .execute();
  }

  async setRevisionImage(id: string, number: number, image: string): Promise<void> {
    await this.db.updateTable('revisions').set({ image }).where('deployment_id', '=', id).where('number', '=', number).execute();
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
    let row;
    try {
      row = await this.db
        .updateTable('deployments')
        .set((eb) => ({
          ...patchToRow(patch),
          updated_at: this.#clock(),
          // Counters move in the statement itself, so concurrent writers add up.
          ...(patch.bump_generation ? { generation: eb('generation', '+', 1) } : {}),
          ...(patch.add_restarts !== undefined ? { restart_count: eb('restart_count', '+', patch.add_restarts) } : {}),
        }))
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
    } catch (err) {
      if (patch.name !== undefined && isUniqueViolation(err)) throw nameTaken(patch.name);
      throw err;
    }
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
  return { embeddings: new SqlEmbeddingStore(db), groups: new SqlGroupStore(db), deployments, tokens: new SqlTokenStore(db), audit: new SqlAuditStore(db), idempotency: new SqlIdempotencyStore(db), db, close: () => deployments.close() };
}
