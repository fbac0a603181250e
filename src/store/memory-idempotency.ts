import { claimOf } from './sql-idempotency.js';
import type { IdempotencyClaim, IdempotencyStore } from './types.js';

interface Row {
  request_hash: string;
  state: string;
  status_code: number | null;
  response: string | null;
  created_at: string;
}

/** In-memory IdempotencyStore with the SQL one's behaviour. */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #rows = new Map<string, Row>();

  async claimIdempotencyKey(principal: string, key: string, requestHash: string, at: string): Promise<IdempotencyClaim> {
    const id = JSON.stringify([principal, key]);
    const row = this.#rows.get(id);
    if (row) return claimOf(row, requestHash);
    this.#rows.set(id, { request_hash: requestHash, state: 'pending', status_code: null, response: null, created_at: at });
    return { state: 'claimed' };
  }

  async finishIdempotencyKey(principal: string, key: string, statusCode: number, response: unknown): Promise<void> {
    const row = this.#rows.get(JSON.stringify([principal, key]));
    if (row) Object.assign(row, { state: 'done', status_code: statusCode, response: JSON.stringify(response) });
  }

  async releaseIdempotencyKey(principal: string, key: string): Promise<void> {
    const id = JSON.stringify([principal, key]);
    if (this.#rows.get(id)?.state === 'pending') this.#rows.delete(id);
  }

  async purgeIdempotencyKeys(before: string): Promise<number> {
    let n = 0;
    for (const [id, row] of this.#rows) {
      if (row.created_at < before) {
        this.#rows.delete(id);
        n += 1;
      }
    }
    return n;
  }
}
