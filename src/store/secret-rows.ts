import type { Kysely } from 'kysely';
import type { BerthDatabase, SecretsTable } from './schema.js';
import type { SecretRow, SecretRows } from '../core/secret-rows.js';

const COLUMNS = ['scope', 'name', 'key_id', 'nonce', 'ciphertext', 'updated_at'] as const;

/** SecretRows in the `secrets` table (src/store/schema.ts, migration 003), the same queries on SQLite and PostgreSQL. */
export class SqlSecretRows implements SecretRows {
  readonly #db: Kysely<BerthDatabase>;
  readonly #lockRows: boolean;

  /** `dialect` decides how rewriteAll locks: SQLite transactions already hold the write lock (BEGIN IMMEDIATE). */
  constructor(db: Kysely<BerthDatabase>, dialect: 'sqlite' | 'postgres') {
    this.#db = db;
    this.#lockRows = dialect === 'postgres';
  }

  async upsert(row: SecretRow): Promise<void> {
    const values = pick(row);
    await this.#db
      .insertInto('secrets')
      .values(values)
      .onConflict((oc) => oc.columns(['scope', 'name']).doUpdateSet({ key_id: values.key_id, nonce: values.nonce, ciphertext: values.ciphertext, updated_at: values.updated_at }))
      .execute();
  }

  async get(scope: string, name: string): Promise<SecretRow | undefined> {
    return this.#db.selectFrom('secrets').select(COLUMNS).where('scope', '=', scope).where('name', '=', name).executeTakeFirst();
  }

  async list(scope: string): Promise<SecretRow[]> {
    return this.#db.selectFrom('secrets').select(COLUMNS).where('scope', '=', scope).orderBy('name').execute();
  }

  async delete(scope: string, name: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('secrets').where('scope', '=', scope).where('name', '=', name).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  async deleteScope(scope: string): Promise<number> {
    const r = await this.#db.deleteFrom('secrets').where('scope', '=', scope).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async keyUsage(): Promise<Record<string, number>> {
    const rows = await this.#db
      .selectFrom('secrets')
      .select((eb) => ['key_id', eb.fn.countAll<number | string | bigint>().as('n')])
      .groupBy('key_id')
      .execute();
    return Object.fromEntries(rows.map((r) => [r.key_id, Number(r.n)]));
  }

  async rewriteAll(change: (row: SecretRow) => SecretRow | undefined): Promise<number> {
    return this.#db.transaction().execute(async (trx) => {
      let query = trx.selectFrom('secrets').select(COLUMNS).orderBy('scope').orderBy('name');
      if (this.#lockRows) query = query.forUpdate();
      let changed = 0;
      for (const row of await query.execute()) {
        const next = change({ ...row });
        if (next === undefined) continue;
        await trx
          .updateTable('secrets')
          .set({ key_id: next.key_id, nonce: next.nonce, ciphertext: next.ciphertext, updated_at: next.updated_at })
          .where('scope', '=', row.scope)
          .where('name', '=', row.name)
          .execute();
        changed++;
      }
      return changed;
    });
  }
}

function pick(row: SecretRow): SecretsTable {
  return { scope: row.scope, name: row.name, key_id: row.key_id, nonce: row.nonce, ciphertext: row.ciphertext, updated_at: row.updated_at };
}
