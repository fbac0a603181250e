import { createHash } from 'node:crypto';
import { BerthError } from '../core/errors.js';
import type { IdempotencyStore } from '../store/types.js';

/** What a keyed request answered: the first time, or replayed for a retry. */
export interface IdempotentResult<T> {
  statusCode: number;
  body: T;
  replayed: boolean;
}

export interface IdempotencyDeps {
  store: IdempotencyStore;
  /** How long a key is remembered. */
  ttlMs: number;
  now?: () => number;
}

/** Printable ASCII without spaces, as the IETF Idempotency-Key draft expects of a UUID or similar. */
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const PURGE_EVERY_MS = 60 * 60 * 1000;

/**
 * `Idempotency-Key` for create requests: the first request with a key runs; a retry with the same key and
 * body gets the first answer (even from another replica: the keys are in the store), the same key with
 * another body is refused, and one still running answers 409 so the client retries shortly.
 */
export class Idempotency {
  private lastPurge = 0;

  constructor(private readonly deps: IdempotencyDeps) {}

  async run<T>(principal: string, key: string, body: unknown, fn: () => Promise<{ statusCode: number; body: T }>): Promise<IdempotentResult<T>> {
    if (!KEY_PATTERN.test(key)) throw new BerthError('VALIDATION_FAILED', 'Idempotency-Key must be 1 to 255 printable ASCII characters without spaces (a UUID, say)');
    const now = (this.deps.now ?? Date.now)();
    await this.purge(now);
    const hash = requestHash(body);
    const claim = await this.deps.store.claimIdempotencyKey(principal, key, hash, new Date(now).toISOString());
    if (claim.state === 'mismatch') throw new BerthError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was already used with a different request body; use a new key for a new request');
    if (claim.state === 'pending') throw new BerthError('IDEMPOTENCY_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed; retry in a moment', { retryAfterS: 1 });
    if (claim.state === 'done') return { statusCode: claim.statusCode, body: claim.response as T, replayed: true };
    let out: { statusCode: number; body: T };
    try {
      out = await fn();
    } catch (err) {
      // A request that failed leaves nothing behind: the retry runs again (and fails the same way, or succeeds).
      await this.deps.store.releaseIdempotencyKey(principal, key).catch(() => undefined);
      throw err;
    }
    await this.deps.store.finishIdempotencyKey(principal, key, out.statusCode, out.body);
    return { ...out, replayed: false };
  }

  private async purge(now: number): Promise<void> {
    if (now - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = now;
    await this.deps.store.purgeIdempotencyKeys(new Date(now - this.deps.ttlMs).toISOString()).catch(() => undefined);
  }
}

/**
 * The stored fingerprint of a create body. Secret values (`secrets.*`, and a url spec's `headers.*`, which Berth
 * stores as secrets) are left out: a hash of them in the database would let whoever reads it test guesses.
 * Their names still count, so another request with the same key is still told apart.
 */
export function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(withoutSecretValues(body) ?? null)).digest('hex');
}

function withoutSecretValues(body: unknown): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  const b = { ...(body as Record<string, unknown>) };
  const mask = (v: unknown): unknown => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).map((k) => [k, '[secret]'])) : v);
  if ('secrets' in b) b.secrets = mask(b.secrets);
  if (b.spec !== null && typeof b.spec === 'object' && !Array.isArray(b.spec) && 'headers' in b.spec) b.spec = { ...b.spec, headers: mask((b.spec as Record<string, unknown>).headers) };
  return b;
}
