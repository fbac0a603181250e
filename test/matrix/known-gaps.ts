import type { Column, Feature, RawCase, UpstreamId } from './tables.js';

/**
 * Cells that should pass but do not yet. `missing`: a Berth feature is not built yet; `bug`: Berth
 * does the wrong thing (reported, not yet fixed). A cell listed here must FAIL: when one starts
 * passing, the suite fails and asks for its entry to be removed, so this table never hides progress
 * (like test/conformance/expected-failures.json).
 */
export interface KnownGap {
  kind: 'missing' | 'bug';
  upstream: UpstreamId[];
  column: Column[];
  /** Omitted: every feature (and raw case) of those columns. */
  feature?: (Feature | RawCase)[];
  reason: string;
  /** What the failure must say: a cell that fails for another reason is a plain failure. */
  fails: RegExp;
}

export const KNOWN_GAPS: KnownGap[] = [];

export function gapOf(upstream: UpstreamId, column: Column, feature: Feature | RawCase): KnownGap | undefined {
  return KNOWN_GAPS.find((g) => g.upstream.includes(upstream) && g.column.includes(column) && (!g.feature || g.feature.includes(feature)));
}
