import { BerthError } from '../core/index.js';

/** ISO-8601 timestamps that strictly increase within a store, so updated_at always moves and creation order is total. */
export function monotonicClock(now: () => Date = () => new Date()): () => string {
  let last = 0;
  return () => {
    last = Math.max(now().getTime(), last + 1);
    return new Date(last).toISOString();
  };
}

export function notFound(id: string): BerthError {
  return new BerthError('DEPLOYMENT_NOT_FOUND', `No deployment with id ${id}`, { id });
}

export function tokenNotFound(id: string): BerthError {
  return new BerthError('TOKEN_NOT_FOUND', `No API token with id ${id}`, { id });
}

/** An insert refused for a duplicate key, by better-sqlite3 or pg (SQLSTATE 23505 unique_violation). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

export function nameTaken(name: string): BerthError {
  return new BerthError('NAME_TAKEN', `Another deployment is already named ${JSON.stringify(name)}; pick another name, or update that one (berth update ${name})`, { name });
}

export function alreadyExists(id: string): BerthError {
  return new BerthError('DEPLOYMENT_EXISTS', `A deployment with id ${id} already exists`, { id });
}

/** Validate addRequests arguments; returns lastAt normalised to ISO-8601 (so text comparison orders it). */
export function checkRequests(count: number, lastAt: string): string {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new BerthError('VALIDATION_FAILED', `Request count must be a non-negative integer, got ${count}`);
  }
  const at = new Date(lastAt);
  if (Number.isNaN(at.getTime())) {
    throw new BerthError('VALIDATION_FAILED', `lastAt must be an ISO-8601 timestamp, got ${JSON.stringify(lastAt)}`);
  }
  return at.toISOString();
}

/** The later of two ISO timestamps (either may be null). */
export function laterOf(a: string | null, b: string): string {
  return a !== null && a >= b ? a : b;
}
