/**
 * Secret references (seed 001): `secret_ref:SCOPE:NAME`, SCOPE a deployment id or `global`. A value
 * may be one reference or embed some (`Bearer secret_ref:global:GH_TOKEN`); each is replaced by the
 * secret's value when the deployment starts.
 */
import { BerthError } from '../core/errors.js';
import { DEPLOYMENT_ID_PATTERN, SECRET_NAME } from '../core/index.js';
import { GLOBAL_SCOPE } from './types.js';

export const REF_PREFIX = 'secret_ref:';

export interface SecretRef {
  scope: string;
  name: string;
  /** The reference as written: `secret_ref:SCOPE:NAME`. */
  text: string;
}

/** A whole-string pattern's body, to build a larger pattern from it. */
const inner = (re: RegExp): string => re.source.replace(/^\^|\$$/g, '');
/** Scope: `global` or a deployment id; name: a secret name, not followed by more name characters. */
const REF = new RegExp(`secret_ref:(${GLOBAL_SCOPE}|${inner(DEPLOYMENT_ID_PATTERN)}):(${inner(SECRET_NAME)})(?![A-Za-z0-9_])`, 'g');

export function refText(scope: string, name: string): string {
  return `${REF_PREFIX}${scope}:${name}`;
}

export function hasRef(value: string): boolean {
  return value.includes(REF_PREFIX);
}

/**
 * The references in `value`. Throws VALIDATION_FAILED naming `field` (never the value) when it holds
 * `secret_ref:` that is not a well-formed reference.
 */
export function findRefs(value: string, field: string): SecretRef[] {
  if (!hasRef(value)) return [];
  const refs = [...value.matchAll(REF)].map((m) => ({ scope: m[1]!, name: m[2]!, text: m[0] }));
  if (refs.length !== value.split(REF_PREFIX).length - 1) {
    throw new BerthError('VALIDATION_FAILED', `${field}: malformed secret reference; write secret_ref:ID:KEY or secret_ref:${GLOBAL_SCOPE}:KEY (KEY: letters, digits, _)`, {
      issues: [{ field, message: 'malformed secret reference' }],
    });
  }
  return refs;
}

/** True when `value` is exactly one reference and nothing else. */
export function isWholeRef(value: string, field: string): boolean {
  const refs = findRefs(value, field);
  return refs.length === 1 && refs[0]!.text === value;
}

/** `value` with each reference replaced by `valueOf(ref)`. */
export function substituteRefs(value: string, valueOf: (ref: SecretRef) => string): string {
  if (!hasRef(value)) return value;
  return value.replace(REF, (text, scope: string, name: string) => valueOf({ scope, name, text }));
}
