import { CLIENTS, FEATURES, RAW_CASES, UPSTREAMS, type Column, type Feature, type RawCase, type UpstreamId } from './tables.js';

/** How a cell ended. `gap`/`bug`: a KNOWN_GAPS cell that still fails; `FIXED`: one that passed (the suite fails until its entry goes). */
export type Mark = 'ok' | 'ref' | 'n/a' | 'gap' | 'bug' | 'FAIL' | 'FIXED';

interface Entry {
  mark: Mark;
  note?: string;
}

const results = new Map<string, Entry>();
const key = (u: UpstreamId, c: Column, f: Feature | RawCase) => `${u}|${c}|${f}`;

export function record(u: UpstreamId, c: Column, f: Feature | RawCase, mark: Mark, note?: string): void {
  results.set(key(u, c, f), { mark, note });
}

const SHORT: Record<string, string> = {
  cancellation: 'cancel',
  elicitation: 'elicit',
  list_changed: 'list_chg',
  completion: 'complete',
  resources: 'resource',
  'notify-202': 'notify202',
  'get-stream': 'getstream',
  'delete-404': 'delete404',
  'unknown-session': 'badsess',
  'stateless-call': 'stateless',
};

/** A compact grid of the matrix (one line per upstream × client), then the n/a reasons and the gaps. */
export function renderSummary(): string {
  const cols = FEATURES.map((f) => SHORT[f] ?? f);
  const w = Math.max(...cols.map((c) => c.length), 5);
  const pad = (s: string, n: number) => s.padEnd(n);
  const lines: string[] = [];
  lines.push('protocol matrix  (ok: passed · ref: refused as documented · n/a: not applicable · gap: missing feature · bug: known Berth bug · FAIL · FIXED: known gap now passes)');
  lines.push(`${pad('upstream', 20)}${pad('client', 10)}${cols.map((c) => pad(c, w + 1)).join('')}`);
  const counts: Record<string, number> = {};
  for (const u of UPSTREAMS) {
    for (const c of CLIENTS) {
      const marks = FEATURES.map((f) => results.get(key(u.id, c.id, f))?.mark ?? '-');
      for (const m of marks) counts[m] = (counts[m] ?? 0) + 1;
      lines.push(`${pad(u.id, 20)}${pad(c.id, 10)}${marks.map((m) => pad(m, w + 1)).join('')}`);
    }
  }
  lines.push('');
  const rawCols = RAW_CASES.map((r) => SHORT[r] ?? r);
  const rw = Math.max(...rawCols.map((c) => c.length));
  lines.push(`${pad('upstream', 20)}${pad('raw http', 10)}${rawCols.map((c) => pad(c, rw + 1)).join('')}`);
  for (const u of UPSTREAMS) {
    const marks = RAW_CASES.map((r) => results.get(key(u.id, 'raw', r))?.mark ?? '-');
    for (const m of marks) counts[m] = (counts[m] ?? 0) + 1;
    lines.push(`${pad(u.id, 20)}${pad('', 10)}${marks.map((m) => pad(m, rw + 1)).join('')}`);
  }
  lines.push('');
  lines.push(`cells: ${Object.entries(counts).map(([m, n]) => `${n} ${m}`).join(', ')}`);
  // n/a and refusals: one line per reason; gaps, bugs and failures: one line per cell, with what was seen.
  const byReason = new Map<string, string[]>();
  const perCell: string[] = [];
  for (const [k, e] of results) {
    if (!e.note || e.mark === 'ok') continue;
    const cell = k.replaceAll('|', ' × ');
    if (e.mark === 'n/a' || e.mark === 'ref') {
      const r = `${e.mark}: ${e.note}`;
      byReason.set(r, [...(byReason.get(r) ?? []), cell]);
    } else perCell.push(`${e.mark.padEnd(5)} ${cell}: ${e.note}`);
  }
  if (byReason.size > 0) lines.push('');
  for (const [r, cells] of byReason) lines.push(`${r}\n      (${cells.length} cells: ${cells.join('; ')})`);
  if (perCell.length > 0) lines.push('', ...perCell);
  return lines.join('\n');
}
