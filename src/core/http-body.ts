import type { IncomingMessage } from 'node:http';
import { BerthError } from './errors.js';

const BUDGET = Symbol('berth.bodyBudget');
const HELD = Symbol('berth.bodyHeld');
type WithBudget = IncomingMessage & { [BUDGET]?: BodyBudget; [HELD]?: number };

/**
 * The bytes of request bodies being read, across all connections, within one limit: a body is counted
 * from its first byte (its whole Content-Length at once, when it declares one) until it has been read, or
 * (`hold`) until the caller has handed it on. Over the limit a request gets 503 SERVER_BUSY and its body is
 * read to its end and dropped (so the client gets the answer; the body timeout bounds how long that takes).
 */
export class BodyBudget {
  private used = 0;

  constructor(readonly limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 1) throw new Error(`body budget must be a positive integer, got ${String(limitBytes)}`);
  }

  /** Bytes counted right now. */
  get inUse(): number {
    return this.used;
  }

  /** Count `n` more bytes; false (nothing counted) when that would go over the limit. */
  take(n: number): boolean {
    if (this.used + n > this.limitBytes) return false;
    this.used += n;
    return true;
  }

  give(n: number): void {
    this.used = Math.max(0, this.used - n);
  }

  /** Make `readBody` count `req`'s body against this budget (the edge does this for every request). */
  attach(req: IncomingMessage): void {
    (req as WithBudget)[BUDGET] = this;
  }
}

export interface ReadBodyOptions {
  /** Keep the body counted after it was read, until `releaseBody(req)` (the gateway: until the endpoint has taken it). */
  hold?: boolean;
}

/** Stop counting a body read with `hold` (safe to call when nothing is held). */
export function releaseBody(req: IncomingMessage): void {
  const r = req as WithBudget;
  const held = r[HELD] ?? 0;
  r[HELD] = 0;
  if (held > 0) r[BUDGET]?.give(held);
}

/**
 * Read a request body into one Buffer, refusing more than `limit` bytes (checked against Content-Length
 * first, then while reading) and, when the request carries a BodyBudget, more than the budget has room for.
 */
export function readBody(req: IncomingMessage, limit: number, opts: ReadBodyOptions = {}): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const known = req.headers['content-length'] !== undefined && Number.isFinite(declared);
  if (known && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  const budget = (req as WithBudget)[BUDGET];
  let held = 0;
  if (budget && known && declared > 0) {
    if (!budget.take(declared)) {
      req.resume();
      return Promise.reject(busy(budget));
    }
    held = declared;
  }
  return new Promise((resolve, reject) => {
    // A declared length is filled in place (one copy of the body, not chunks and then their concatenation).
    let whole: Buffer | null = known && declared > 0 ? Buffer.allocUnsafe(declared) : null;
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const fail = (err: Error): void => {
      failed = true;
      whole = null;
      chunks.length = 0;
      budget?.give(held);
      held = 0;
      // The rest of the body is read and dropped: the client gets its answer, Berth keeps nothing.
      req.resume();
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) return fail(tooLarge(limit));
      if (budget && size > held) {
        if (!budget.take(size - held)) return fail(busy(budget));
        held = size;
      }
      if (!whole) chunks.push(chunk);
      else if (size <= whole.length) chunk.copy(whole, size - chunk.length);
      else fail(new BerthError('VALIDATION_FAILED', 'The request body is longer than its Content-Length'));
    });
    req.on('end', () => {
      if (failed) return;
      if (opts.hold) (req as WithBudget)[HELD] = held;
      else budget?.give(held);
      held = 0;
      if (whole) resolve(size === whole.length ? whole : whole.subarray(0, size));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (!failed) fail(err);
    });
    req.on('close', () => {
      // The client went away before the end: nothing more arrives, and nothing stays counted.
      if (!failed && !req.complete) fail(new Error('the client closed the connection before the body ended'));
    });
  });
}

function tooLarge(limit: number): BerthError {
  return new BerthError('PAYLOAD_TOO_LARGE', `Request body is larger than the limit of ${limit} bytes (BERTH_MAX_BODY_BYTES)`);
}

function busy(budget: BodyBudget): BerthError {
  return new BerthError('SERVER_BUSY', `Berth is reading ${budget.limitBytes} bytes of request bodies at once, its limit (BERTH_BODY_BUDGET_BYTES); retry shortly`, { retryAfterS: 1 });
}
