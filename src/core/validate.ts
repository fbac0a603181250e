import type { z } from 'zod';
import { BerthError } from './errors.js';

export interface FieldIssue {
  /** Dotted path of the bad field, e.g. `spec.command`. */
  field: string;
  message: string;
}

export function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({ field: i.path.map(String).join('.') || '(root)', message: i.message }));
}

/** A missing field reads "is required" rather than zod's "expected string, received undefined"; other messages stay zod's. */
const missingIsRequired = (issue: { code?: string; input?: unknown }): string | undefined =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined;

/** Parse with a zod schema; on failure throw VALIDATION_FAILED naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what = 'request'): z.infer<S> {
  const result = schema.safeParse(value, { error: missingIsRequired });
  if (result.success) return result.data;
  const issues = issuesOf(result.error);
  const summary = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  throw new BerthError('VALIDATION_FAILED', `Invalid ${what}: ${summary}`, { issues });
}
