/**
 * `git+URL#ref:subdir`, as `berth deploy` and the catalog take it (the npm/pip convention): `git+https://host/org/repo`,
 * `git+ssh://git@host/org/repo.git#v1.2`, `git+file:///srv/repo.git#main:servers/weather`, `…#:subdir` (default branch).
 */
import { BerthError } from './errors.js';
import { SourceRefSchema, type SourceRef } from './spec.js';

export type GitSourceRef = Extract<SourceRef, { kind: 'git' }>;

const PREFIX = 'git+';

/** True when `text` is meant as a git source (starts with `git+`). */
export function isGitSource(text: string): boolean {
  return text.startsWith(PREFIX);
}

/** Parses `git+URL[#[REF][:SUBDIR]]` into a git SourceRef; throws VALIDATION_FAILED naming what is wrong. */
export function parseGitSource(text: string): GitSourceRef {
  if (!isGitSource(text)) throw new BerthError('VALIDATION_FAILED', `a git source starts with git+ (git+https://host/org/repo#ref:subdir), got ${JSON.stringify(text.slice(0, 200))}`);
  const rest = text.slice(PREFIX.length);
  const hash = rest.indexOf('#');
  const url = hash === -1 ? rest : rest.slice(0, hash);
  const fragment = hash === -1 ? '' : rest.slice(hash + 1);
  if (!/^(https?|ssh|file|git):\/\//.test(url)) {
    throw new BerthError('VALIDATION_FAILED', `git source: expected git+https://, git+ssh://, git+git:// or git+file:// before the repository, got ${JSON.stringify(url.slice(0, 200))}`);
  }
  // The ref never holds ':' (git forbids it in ref names), so the first ':' starts the subdirectory.
  const colon = fragment.indexOf(':');
  const ref = (colon === -1 ? fragment : fragment.slice(0, colon)).trim();
  const subdir = (colon === -1 ? '' : fragment.slice(colon + 1)).trim().replace(/^\.\/+/, '').replace(/\/+$/, '');
  const candidate = { kind: 'git' as const, url, ...(ref ? { ref } : {}), ...(subdir && subdir !== '.' ? { subdir } : {}) };
  const parsed = SourceRefSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BerthError('VALIDATION_FAILED', `git source: ${issue.path.join('.') || 'url'} ${issue.message}`, { issues: parsed.error.issues.map((i) => ({ field: `source.${i.path.join('.')}`, message: i.message })) });
  }
  return parsed.data as GitSourceRef;
}

/** The inverse of parseGitSource: `git+URL#ref:subdir`. */
export function formatGitSource(ref: Pick<GitSourceRef, 'url' | 'ref' | 'subdir'>): string {
  const frag = ref.ref === undefined && ref.subdir === undefined ? '' : `#${ref.ref ?? ''}${ref.subdir === undefined ? '' : `:${ref.subdir}`}`;
  return `${PREFIX}${ref.url}${frag}`;
}

/**
 * A spec patch that names a git source's url, ref or subdir asks for that ref as it is now: the commit and digest
 * pinned before are dropped (unless the patch sets them), so the next pin fetches it again. Any other update,
 * a redeploy or a rollback keeps the pinned commit, so it runs the same code.
 */
export function repinGitPatch(patch: Record<string, unknown>): Record<string, unknown> {
  const source = patch.source;
  if (source === null || typeof source !== 'object' || Array.isArray(source)) return patch;
  const s = source as Record<string, unknown>;
  if (!['url', 'ref', 'subdir'].some((k) => k in s) || 'commit' in s || 'digest' in s) return patch;
  return { ...patch, source: { ...s, commit: null, digest: null } };
}
