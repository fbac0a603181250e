import type { Kysely, Migration } from 'kysely';

/** The deployments table. JSON columns and timestamps are text so both dialects share one query layer. */
export const m001Deployments: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('deployments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text')
      .addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('env_schema', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('desired', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('status_message', 'text')
      .addColumn('request_count', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('last_request_at', 'text')
      .addColumn('tools', 'text')
      .addColumn('restart_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('stopped_at', 'text')
      .addColumn('deleted_at', 'text')
      .execute();
    await db.schema.createIndex('deployments_status_idx').on('deployments').column('status').execute();
    await db.schema.createIndex('deployments_created_at_idx').on('deployments').column('created_at').execute();
  },
};
