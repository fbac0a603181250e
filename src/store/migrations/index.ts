import { Migrator } from 'kysely';
import type { Kysely, Migration, MigrationProvider } from 'kysely';
import { BerthError } from '../../core/index.js';
import { m001Deployments } from './001_deployments.js';
import { m002Tokens } from './002_tokens.js';
import { m003Secrets } from './003_secrets.js';
import { m004Audit } from './004_audit.js';
import { m005Revisions } from './005_revisions.js';
import { m006Groups } from './006_groups.js';
import { m007Embeddings } from './007_embeddings.js';

/**
 * Every migration, in order. Forward-only: never edit or remove one that has
 * shipped; add the next number. Listed statically so it works from dist/.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = {
  '001_deployments': m001Deployments,
  '002_tokens': m002Tokens,
  '003_secrets': m003Secrets,
  '004_audit': m004Audit,
  '005_revisions': m005Revisions,
  '006_groups': m006Groups,
  '007_embeddings': m007Embeddings,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return { ...MIGRATIONS };
  }
}

/**
 * Bring the schema to the latest migration and return the names applied by this call.
 * Safe when several Berth processes start at once: on PostgreSQL the Migrator holds
 * an advisory lock and runs in a transaction; on SQLite the run is one BEGIN IMMEDIATE
 * transaction (see sqlite-dialect.ts).
 */
export async function runMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  const migrator = new Migrator({ db: db as Kysely<unknown>, provider: new StaticMigrationProvider() });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    const what = failed === undefined ? 'Database migration' : `Database migration ${failed}`;
    throw new BerthError('INTERNAL', `${what} failed: ${reason}`, { migration: failed });
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
