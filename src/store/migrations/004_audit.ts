import { SqliteAdapter, sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

/**
 * The audit log: one row per mutation and per refused credential. Append-only: the database itself
 * refuses UPDATE and DELETE on it (triggers), so not even a bug in Berth can rewrite history.
 */
export const m004Audit: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    const sqlite = db.getExecutor().adapter instanceof SqliteAdapter;
    await db.schema
      .createTable('audit_log')
      .addColumn('seq', sqlite ? 'integer' : 'bigserial', (c) => (sqlite ? c.primaryKey().autoIncrement() : c.primaryKey()))
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('actor_name', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target', 'text')
      .addColumn('source', 'text')
      .addColumn('result', 'text', (c) => c.notNull())
      .addColumn('code', 'text')
      .addColumn('detail', 'text')
      .execute();
    await db.schema.createIndex('audit_log_at_idx').on('audit_log').column('at').execute();
    if (sqlite) {
      for (const op of ['update', 'delete']) {
        await sql`create trigger ${sql.raw(`audit_log_no_${op}`)} before ${sql.raw(op)} on audit_log begin select raise(abort, 'the audit log is append-only'); end`.execute(db);
      }
    } else {
      await sql`create function berth_audit_append_only() returns trigger language plpgsql as $$ begin raise exception 'the audit log is append-only'; end $$`.execute(db);
      await sql`create trigger audit_log_append_only before update or delete on audit_log for each row execute function berth_audit_append_only()`.execute(db);
      await sql`create trigger audit_log_no_truncate before truncate on audit_log for each statement execute function berth_audit_append_only()`.execute(db);
    }
  },
};
