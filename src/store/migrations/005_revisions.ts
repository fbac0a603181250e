import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Revisions (every create, update, redeploy and rollback makes an immutable one), the controller's
 * generation counters, unique live names, and the keys that make POST /api/deployments idempotent.
 */
export const m005Revisions: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('revisions')
      .addColumn('deployment_id', 'text', (c) => c.notNull())
      .addColumn('number', 'integer', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('env_schema', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('from_revision', 'integer')
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('source_digest', 'text')
      .addColumn('image', 'text')
      .addColumn('snapshot', 'text')
      .addPrimaryKeyConstraint('revisions_pk', ['deployment_id', 'number'])
      .execute();
    for (const [column, def] of [
      ['revision', 1],
      ['generation', 1],
      ['observed_generation', 0],
    ] as const) {
      await db.schema.alterTable('deployments').addColumn(column, 'integer', (c) => c.notNull().defaultTo(def)).execute();
    }
    await db.schema.alterTable('deployments').addColumn('serving_revision', 'integer').execute();
    // Every deployment made before revisions existed gets its revision 1.
    await sql`insert into revisions (deployment_id, number, spec, env_schema, reason, created_at)
              select id, 1, spec, env_schema, 'create', created_at from deployments`.execute(db);
    // Names become unique among live deployments: older duplicates keep theirs, newer ones get their id's suffix.
    const dupes = await sql<{ id: string; name: string }>`
      select d.id, d.name from deployments d
      where d.desired <> 'deleted' and exists (
        select 1 from deployments o
        where o.name = d.name and o.desired <> 'deleted' and (o.created_at < d.created_at or (o.created_at = d.created_at and o.id < d.id)))`.execute(db);
    for (const row of dupes.rows) {
      await sql`update deployments set name = ${`${row.name}-${row.id.slice(-6)}`} where id = ${row.id}`.execute(db);
    }
    await sql`create unique index deployments_live_name_idx on deployments (name) where desired <> 'deleted'`.execute(db);
    await db.schema
      .createTable('idempotency_keys')
      .addColumn('principal', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('request_hash', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('status_code', 'integer')
      .addColumn('response', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('idempotency_keys_pk', ['principal', 'key'])
      .execute();
  },
};
