/** Which git URLs Berth fetches from, and how each kind reaches git. */
import { BerthError } from '../../core/errors.js';

/** What an operator (or a test) allows beyond https, ssh and git://. */
export interface GitUrlAllowance {
  /** file:// URLs and plain paths: the Berth host's own files. Off in production; tests and local setups turn it on. */
  file?: boolean;
  /** Plain http:// (a token would travel in clear text): for a loopback server in tests. */
  http?: boolean;
}

export interface CheckedGitUrl {
  /** What git is given. */
  url: string;
  /** The protocols git may use for it (GIT_ALLOW_PROTOCOL), so a URL cannot switch to ext:: or fd::. */
  protocols: string[];
  /** A token can be offered to it (http(s)). */
  http: boolean;
}

const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)/;

/** Checks a repository URL against the allowance; GIT_URL_NOT_ALLOWED says why it is refused. */
export function checkGitUrl(raw: string, allow: GitUrlAllowance = {}): CheckedGitUrl {
  const refuse = (why: string): never => {
    throw new BerthError('GIT_URL_NOT_ALLOWED', `git URL ${JSON.stringify(redactUrl(raw).slice(0, 300))}: ${why}`);
  };
  if (raw.length === 0 || raw.length > 2048) refuse('must be 1 to 2048 characters');
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) refuse('must not contain spaces or control characters');
  if (raw.startsWith('-')) refuse('must not start with -');
  if (SCP_LIKE.test(raw)) return { url: raw, protocols: ['ssh'], http: false };
  if (raw.startsWith('/')) {
    if (!allow.file) refuse('local paths are not allowed on this Berth (only https, ssh and git URLs)');
    return { url: raw, protocols: ['file'], http: false };
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return refuse('not a URL (expected https://host/org/repo, ssh://git@host/org/repo or git@host:org/repo)');
  }
  const scheme = u.protocol.slice(0, -1);
  if (scheme === 'file') {
    if (!allow.file) refuse('file:// URLs are not allowed on this Berth (only https, ssh and git URLs)');
    return { url: raw, protocols: ['file'], http: false };
  }
  if (u.password !== '' || (u.username !== '' && scheme !== 'ssh')) refuse('must not carry credentials: keep the token in a secret and name it as the source\'s token (secret_ref:SCOPE:KEY)');
  if (scheme === 'https') return { url: raw, protocols: ['https'], http: true };
  if (scheme === 'http') {
    if (!allow.http) refuse('plain http:// is not allowed (a token would travel in clear text): use https://');
    return { url: raw, protocols: ['http'], http: true };
  }
  if (scheme === 'ssh') return { url: raw, protocols: ['ssh'], http: false };
  if (scheme === 'git') return { url: raw, protocols: ['git'], http: false };
  return refuse(`the ${scheme}: scheme is not allowed (https, ssh, git${allow.file ? ', file' : ''})`);
}

/** The URL with any user:password@ part masked, for messages and logs. */
export function redactUrl(raw: string): string {
  return raw.replace(/^([a-z+]+:\/\/)[^/@]*@/i, '$1***@');
}
