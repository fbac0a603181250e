import type { Kysely, Migration } from 'kysely';

/** Embedding vectors of tool texts (groups' search_tools), one per model and text hash. */
export const m007Embeddings: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('embeddings')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('model', 'text', (c) => c.notNull())
      .addColumn('vector', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
  },
};
