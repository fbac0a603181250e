import type { Kysely } from 'kysely';
import { isUniqueViolation } from './common.js';
import type { BerthDatabase } from './schema.js';
import type { IdempotencyClaim, IdempotencyStore } from './types.js';

/** Idempotency keys in the shared database, so a retry sent to another replica is recognised too. */
export class SqlIdempotencyStore implements IdempotencyStore {
  constructor(private readonly db: Kysely<BerthDatabase>) {}

  async claimIdempotencyKey(principal: string, key: string, requestHash: string, at: string): Promise<IdempotencyClaim> {
    try {
      await this.db
        .insertInto('idempotency_keys')
        .values({ principal, key, request_hash: requestHash, state: 'pending', status_code: null, response: null, created_at: at })
        .execute();
      return { state: 'claimed' };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    const row = await this.db.selectFrom('idempotency_keys').selectAll().where('principal', '=', principal).where('key', '=', key).executeTakeFirst();
    // Released between our insert and this read: the caller may simply retry.
    if (row === undefined) return { state: 'pending' };
    return claimOf(row, requestHash);
  }

  async finishIdempotencyKey(principal: string, key: string, statusCode: number, response: unknown): Promise<void> {
    await this.db
      .updateTable('idempotency_keys')
      .set({ state: 'done', status_code: statusCode, response: JSON.stringify(response) })
      .where('principal', '=', principal)
      .where('key', '=', key)
      .execute();
  }

  async releaseIdempotencyKey(principal: string, key: string): Promise<void> {
    await this.db.deleteFrom('idempotency_keys').where('principal', '=', principal).where('key', '=', key).where('state', '=', 'pending').execute();
  }

  async purgeIdempotencyKeys(before: string): Promise<number> {
    const r = await this.db.deleteFrom('idempotency_keys').where('created_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

/** What a stored key means for a request with `requestHash`. */
export function claimOf(row: { request_hash: string; state: string; status_code: number | null; response: string | null }, requestHash: string): IdempotencyClaim {
  if (row.request_hash !== requestHash) return { state: 'mismatch' };
  if (row.state !== 'done' || row.status_code === null || row.response === null) return { state: 'pending' };
  return { state: 'done', statusCode: Number(row.status_code), response: JSON.parse(row.response) as unknown };
}
