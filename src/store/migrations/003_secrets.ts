import type { Kysely, Migration } from 'kysely';

/**
 * Encrypted secret values (src/secrets/). A row holds only what AES-256-GCM needs to open it again:
 * the id of the master key that sealed it, the IV and the ciphertext with its tag, all as text so
 * both dialects share one query layer. `scope` is a deployment id or `global`.
 */
export const m003Secrets: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('secrets')
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('key_id', 'text', (c) => c.notNull())
      .addColumn('nonce', 'text', (c) => c.notNull())
      .addColumn('ciphertext', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('secrets_pk', ['scope', 'name'])
      .execute();
  },
};
