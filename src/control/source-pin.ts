/**
 * Deploy-time pinning of a source spec (issue 12): what a revision stores names exactly one stored tree. An upload's
 * digest must be in the source store; a git source is fetched (by the injected resolver) and its commit and tree
 * digest written into the spec. Detection then runs on the tree, so a structure that cannot be built fails here,
 * with SOURCE_INVALID and a report a person can read, not deep in an install log.
 */
import { BerthError } from '../core/errors.js';
import type { SourceRef, SourceSpec } from '../core/index.js';
import { detectSource, type DetectReport } from '../build/detect/index.js';
import type { SourceStore } from '../sources/index.js';

/** Fetches a git source into the source store: the commit its ref resolved to and the stored tree's digest. */
export type GitResolver = (src: Extract<SourceRef, { kind: 'git' }>, ctx: { deploymentId?: string; log?(l: string): void }) => Promise<{ commit: string; digest: string }>;

export interface SourcePinDeps {
  store: Pick<SourceStore, 'get' | 'keep'>;
  resolveGit?: GitResolver;
  detect?: (root: string) => DetectReport | Promise<DetectReport>;
}

export interface PinnedSource {
  spec: SourceSpec;
  digest: string;
  report: DetectReport;
}

/** The spec with its source pinned to a stored tree, and that tree's detection report; throws SOURCE_NOT_FOUND / SOURCE_INVALID. */
export async function pinSourceSpec(spec: SourceSpec, deps: SourcePinDeps, ctx: { deploymentId?: string; log?(l: string): void } = {}): Promise<PinnedSource> {
  let pinned = spec;
  let digest: string;
  const src = spec.source;
  if (src.kind === 'upload') digest = src.digest;
  else {
    if (!deps.resolveGit) throw new BerthError('RUNTIME_UNAVAILABLE', 'git sources are not enabled on this Berth');
    const got = await deps.resolveGit(src, ctx);
    digest = got.digest;
    pinned = { ...spec, source: { ...src, commit: got.commit, digest: got.digest } };
  }
  const stored = await deps.store.get(digest);
  if (!stored) {
    throw new BerthError('SOURCE_NOT_FOUND', `No stored source ${digest}: upload it first (POST /api/sources, or berth deploy ./folder)`, { digest });
  }
  // Its garbage-collection grace starts over: the tree stays while this deploy goes on (control/source-gc.ts).
  await deps.store.keep(digest);
  const report = await (deps.detect ?? detectSource)(stored.root);
  // An explicit start command (spec.start) stands in for a missing one; every other problem is fatal.
  const fatal = report.problems.filter((p) => spec.start === undefined || (p.code !== 'NO_START_COMMAND' && p.code !== 'NO_ENTRY_POINT'));
  if (fatal.length > 0) {
    throw new BerthError('SOURCE_INVALID', `The source cannot be built: ${fatal.map((p) => `${p.code}: ${p.message} (fix: ${p.fix})`).join('; ')}`, { problems: fatal, report });
  }
  return { spec: pinned, digest, report };
}

/** The stored tree's digest a (pinned) source spec names, or null (a git source not pinned yet). */
export function sourceDigestOf(spec: SourceSpec): string | null {
  return spec.source.digest ?? null;
}
