import type { Kysely, Migration } from 'kysely';

/**
 * API tokens (stored as SHA-256 hashes, never in plain text) and a deployment's access:
 * `private` (the default: clients need a token with invoke scope) or `public`.
 */
export const m002Tokens: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull().unique())
      .addColumn('prefix', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('revoked_at', 'text')
      .addColumn('last_used_at', 'text')
      .execute();
    await db.schema.alterTable('deployments').addColumn('access', 'text', (c) => c.notNull().defaultTo('private')).execute();
  },
};
