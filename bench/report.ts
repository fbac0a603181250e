import { percentile, type CellResult } from './load.js';
import type { ExpiryResult, IsolatedResult, MemoryResult } from './phases.js';
import type { WakeResult } from './wake.js';
import { formatStartup, startupChecks, type StartupResult } from './startup.js';
import { formatIsolatedBursts, type IsolatedBurstResult } from './isolated.js';

export interface TargetResult {
  name: string;
  cells: CellResult[];
  note?: string;
  /** Session opens one at a time on a warm connection, ms, sorted. */
  serialOpens?: number[];
}

/** Everything one run measured; a phase that could not run holds the reason instead. */
export interface BenchResults {
  meta: { header: string[]; levels: number[]; isoWarm: number; idleSessions: number };
  /** direct, gateway (url), stdio bridge (shared), in that order. */
  targets: [TargetResult, TargetResult, TargetResult];
  /** The shared stdio bridge again, the same calls sent statelessly (revision 2026-07-28). */
  stateless: TargetResult;
  /** The same baseline server behind each reference gateway (HAProxy, a bare Node.js TCP relay), or why one was not measured. */
  references: { label: string; result: TargetResult | string }[];
  /** The shared stdio bridge's session opens measured like the isolated pool's: rounds of one, and of `isoWarm` at once, ms, sorted. */
  sharedOpens: { singles: number[]; bursts: number[] };
  isolated: IsolatedResult | string | null;
  /** The adaptive pool: bursts of 16 opens after a warm-up burst, with their baselines (bench/isolated.ts). */
  isolatedPool?: IsolatedBurstResult | string | null;
  rss: { start: number; idle: number; afterLoad: number };
  memory: MemoryResult | string;
  expiry: ExpiryResult | string;
  /** Scale to zero: wake from a snapshot vs a bare cold start of the same server, or why it was not measured. */
  wake: WakeResult | string;
  /** Berth's own start-up time and idle RSS against a bare node server (absent: the phase was not run). */
  startup?: StartupResult | string;
}

export interface CellSummary {
  c: number;
  p50: number;
  p99: number;
  rps: number;
  openP50: number;
  openP99: number;
  errors: number;
  attempts: number;
}

interface TargetCheck {
  label: string;
  goal: string;
  actual: string;
  /** null: shown for information, not judged. */
  ok: boolean | null;
}

const MAX_ERROR_RATE = 0.01;

export function summarize(cell: CellResult): CellSummary {
  return {
    c: cell.c,
    p50: percentile(cell.latencies, 0.5),
    p99: percentile(cell.latencies, 0.99),
    rps: cell.latencies.length / (cell.measureMs / 1000),
    openP50: percentile(cell.opens, 0.5),
    openP99: percentile(cell.opens, 0.99),
    errors: cell.errors,
    attempts: cell.attempts,
  };
}

const ms = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '—');
const ratio = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '—');
const mark = (ok: boolean | null): string => (ok === null ? '–' : ok ? '✓' : '✗');
const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
/** The isolated session-open target (ms, p50 from a full warm pool). */
const ISO_OPEN_TARGET_MS = 5;
const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MB`;
const us = (cpu: CellResult['cpu']): string => (cpu ? [cpu.proxyUs, cpu.serverUs, cpu.clientUs].map((v) => (Number.isFinite(v) ? v.toFixed(0) : '—')).join(' / ') : '—');

/** The reference gateways that were measured, with their short labels. */
const measuredReferences = (r: BenchResults): { label: string; result: TargetResult }[] =>
  r.references.flatMap((x) => (typeof x.result === 'string' ? [] : [{ label: x.label, result: x.result }]));

/** A plain text table with right-aligned columns (the first column left-aligned). */
function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

function formatTarget(t: TargetResult): string[] {
  const cpu = t.cells.some((c) => c.cpu);
  const rows = t.cells.map((cell) => {
    const s = summarize(cell);
    const row = [String(s.c), ms(s.p50, 3), ms(s.p99, 3), s.rps.toFixed(0), ms(s.openP50), ms(s.openP99), `${s.errors}/${s.attempts}`];
    return cpu ? [...row, us(cell.cpu)] : row;
  });
  const head = ['C', 'p50 ms', 'p99 ms', 'calls/s', 'open p50 ms', 'open p99 ms', 'errors'];
  const out = [`## ${t.name}`, ...(t.note ? [t.note] : []), ...table(cpu ? [...head, 'CPU µs/call gateway / server / client'] : head, rows)];
  const so = t.serialOpens;
  if (so?.length) out.push(`session open one at a time, warm connection: p50 ${ms(percentile(so, 0.5))} ms, p99 ${ms(percentile(so, 0.99))} ms (${so.length} opens)`);
  return [...out, ''];
}

/**
 * The lowest and highest calls/s ratio of `cell` to `base` within one round (slices measured side by side),
 * or '—' when the cells were not measured in the same rounds.
 */
function roundSpread(cell: CellResult, base: CellResult): string {
  const a = cell.slices;
  const d = base.slices;
  if (!a || !d || a.length !== d.length) return '—';
  const ratios = a.map((v, i) => v / d[i]!).filter(Number.isFinite);
  return ratios.length ? `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×` : '—';
}

/** Throughput and p50 of each target against a baseline target, at each C both measured. */
function formatRatios(base: TargetResult, others: TargetResult[], title = '## ratios vs direct (same run)'): string[] {
  const byC = new Map(base.cells.map((c) => [c.c, c]));
  const rows: string[][] = [];
  for (const t of others) {
    for (const cell of t.cells) {
      const b = byC.get(cell.c);
      if (!b) continue;
      const s = summarize(cell);
      const d = summarize(b);
      rows.push([t.name, String(s.c), ratio(s.rps / d.rps), roundSpread(cell, b), ratio(s.p50 / d.p50), `${ms(s.p50 - d.p50, 3)} ms`]);
    }
  }
  return [title, ...table(['target', 'C', 'calls/s ratio', 'per round', 'p50 ratio', 'p50 added'], rows), ''];
}

/** Isolated session opens from a full warm pool beside the shared bridge's, with the ≤ 5 ms target. */
function formatIsolatedOpens(r: BenchResults, iso: IsolatedResult): string[] {
  const shared = percentile(r.sharedOpens.singles, 0.5);
  const sharedBurst = percentile(r.sharedOpens.bursts, 0.5);
  const row = (label: string, v: number[], ref: number, refLabel: string): string[] => {
    const p50 = percentile(v, 0.5);
    return [label, ms(p50), ms(v[v.length - 1] ?? Number.NaN), String(v.length), `${ratio(p50 / ref)} ${refLabel} ${ms(ref)} ms`, Number.isFinite(p50) ? verdict(p50 <= ISO_OPEN_TARGET_MS) : '—'];
  };
  return [
    `## isolated session open from a full warm pool (goal p50 ≤ ${ISO_OPEN_TARGET_MS} ms); ${iso.warmOpenErrors} errors`,
    'rounds after a pause on reused connections; the shared bridge (same deployment kind, same Berth) measured the same way',
    ...table(
      ['opens', 'p50 ms', 'max ms', 'n', 'vs shared bridge (p50)', `≤ ${ISO_OPEN_TARGET_MS} ms`],
      [
        row('one at a time', iso.singleOpens, shared, 'one at a time'),
        row(`${r.meta.isoWarm} at once`, iso.burstOpens, sharedBurst, `${r.meta.isoWarm} at once`),
      ],
    ),
    '',
  ];
}

function formatMemory(r: BenchResults): string[] {
  const out = ['## memory (Berth RSS, /proc VmRSS, settled)', `right after start: ${mb(r.rss.start)}; deployments idle (url + stdio): ${mb(r.rss.idle)}; idle after the load cells: ${mb(r.rss.afterLoad)}`];
  const m = r.memory;
  if (typeof m === 'string') return [...out, `idle sessions: ${m}`, ''];
  return [
    ...out,
    `${m.sessions} idle sessions on the stdio bridge (fresh Berth, ${m.forcedGc ? 'full GC forced before each reading' : 'GC could not be forced'}):`,
    `  RSS ${mb(m.beforeKb)} → ${mb(m.afterKb)} = ${m.kbPerSession.toFixed(1)} KB/session; V8 heap used ${mb(m.heapBeforeKb)} → ${mb(m.heapAfterKb)} = ${ms(m.heapKbPerSession, 1)} KB/session`,
    `  second batch of ${m.sessions}: RSS → ${mb(m.secondAfterKb)} = ${m.secondKbPerSession.toFixed(1)} KB/session; status reported ${m.statusSessions} sessions after the first batch; ${m.errors} open errors`,
    '',
  ];
}

function formatExpiry(e: ExpiryResult | string): string[] {
  if (typeof e === 'string') return [`## idle expiry: FAIL (${e})`, ''];
  return [
    `## idle expiry (BERTH_SESSION_IDLE_S=${e.idleS}): ${e.pass ? 'PASS' : 'FAIL'}`,
    `opened ${e.opened}, status sessions ${e.sessionsAfterOpen} → ${e.sessionsAfterWait} after ${(e.waitedMs / 1000).toFixed(1)} s; a call on an expired session got ${e.expiredStatus}`,
    '',
  ];
}

const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 0.5);

export function formatWake(w: WakeResult | string): string[] {
  if (typeof w === 'string') return [`## wake (scale to zero): ${w}`, ''];
  const phases = ['spawn', 'handshake', 'call', 'total'] as const;
  const rows = phases.map((p) => {
    const c = median(w.cold.map((x) => x[p]));
    const k = median(w.wake.map((x) => x[p]));
    return [p, ms(c), ms(k), ratio(k / c), `${ms(k - c)} ms`];
  });
  return [
    `## wake (scale to zero): first tools/call answer from zero, ${w.rounds} rounds each, medians`,
    'bare: spawn node mcp-echo-server.mjs, initialize, tools/call over its stdio (no HTTP);',
    'wake: a shared bridge started from a stored snapshot (nothing running), a session opened from the snapshot, then tools/call over HTTP:',
    'spawn = request received → child running, handshake = → the bridge\'s own initialize answered, call = → answer at the client',
    ...table(['phase', 'bare ms', 'wake ms', 'wake / bare', 'added'], rows),
    `tools/list of the idle bridge (from the snapshot): p50 ${ms(median(w.listMs))} ms, processes started by it: ${w.listSpawns}`,
    '',
  ];
}

const openCheck = (label: string, v: number): TargetCheck => ({ label, goal: '≤ 5 ms', actual: `${ms(v)} ms`, ok: Number.isFinite(v) ? v <= 5 : null });

/** The issue's targets beside what this run measured. */
function checks(r: BenchResults, iso: IsolatedResult | null): TargetCheck[] {
  const [direct, gateway, bridge] = r.targets;
  const levels = r.meta.levels;
  const top = Math.max(...levels);
  const at = (t: TargetResult, c: number) => t.cells.find((x) => x.c === c);
  const out: TargetCheck[] = [];
  const d64 = at(direct, top);
  const g64 = at(gateway, top);
  if (d64 && g64) {
    const v = summarize(g64).rps / summarize(d64).rps;
    out.push({ label: `gateway throughput, C=${top}`, goal: '≥ 1.00× direct (±3% noise)', actual: ratio(v), ok: v >= 0.97 });
  }
  for (const c of levels) {
    const d = at(direct, c);
    const g = at(gateway, c);
    if (!d || !g) continue;
    const v = summarize(g).p50 / summarize(d).p50;
    out.push({ label: `gateway p50, C=${c}`, goal: '≤ 1.03× direct', actual: ratio(v), ok: v <= 1.03 });
  }
  for (const ref of measuredReferences(r)) {
    const r64 = at(ref.result, top);
    if (d64 && r64) out.push({ label: `${ref.label} throughput, C=${top}`, goal: 'for comparison', actual: ratio(summarize(r64).rps / summarize(d64).rps), ok: null });
    for (const c of levels) {
      const d = at(direct, c);
      const x = at(ref.result, c);
      if (d && x) out.push({ label: `${ref.label} p50, C=${c}`, goal: 'for comparison', actual: ratio(summarize(x).p50 / summarize(d).p50), ok: null });
    }
  }
  const so = bridge.serialOpens ?? [];
  out.push(openCheck('stdio bridge session open p50 (one at a time)', percentile(so, 0.5)));
  out.push(openCheck('stdio bridge session open p99 (one at a time)', percentile(so, 0.99)));
  const burst = at(bridge, top);
  if (burst) out.push({ ...openCheck(`stdio bridge session open p50 (${top} at once, new connections)`, summarize(burst).openP50), ok: null });
  if (iso) {
    out.push(openCheck('isolated session open p50 (warm pool, one at a time)', percentile(iso.singleOpens, 0.5)));
    out.push(openCheck(`isolated session open p50 (warm pool, ${r.meta.isoWarm} at once)`, percentile(iso.burstOpens, 0.5)));
  }
  const m = r.memory;
  if (typeof m !== 'string') {
    const perSession = Math.max(m.kbPerSession, Number.isFinite(m.heapKbPerSession) ? m.heapKbPerSession : 0);
    out.push({ label: 'memory per extra idle session', goal: '≤ 100 KB', actual: `${m.kbPerSession.toFixed(1)} KB RSS, ${ms(m.heapKbPerSession, 1)} KB heap`, ok: perSession <= 100 });
  }
  const w = r.wake;
  if (typeof w !== 'string') {
    const v = median(w.wake.map((x) => x.total)) / median(w.cold.map((x) => x.total));
    out.push({ label: 'wake from zero vs bare cold start (total)', goal: 'for comparison', actual: ratio(v), ok: null });
    out.push({ label: 'listing an idle deployment starts nothing', goal: '0 processes', actual: String(w.listSpawns), ok: w.listSpawns === 0 });
  }
  out.push(...startupChecks(r.startup));
  const e = r.expiry;
  out.push({ label: 'idle sessions expire', goal: 'sessions → 0', actual: typeof e === 'string' ? 'not measured' : String(e.sessionsAfterWait), ok: typeof e === 'string' ? false : e.pass });
  return out;
}

/** The printed report, and the problems that make the harness itself fail (not missed targets). */
export function buildReport(r: BenchResults): { text: string; problems: string[] } {
  const iso = typeof r.isolated === 'object' && r.isolated !== null ? r.isolated : null;
  const isoTarget: TargetResult[] = iso
    ? [{ name: `isolated: mcp-echo-server (warm ${r.meta.isoWarm}, max 80)`, cells: iso.cells, note: 'C ≤ warm pool, so every session gets a pre-started process' }]
    : [];
  const refs = measuredReferences(r);
  const measured = [...r.targets, r.stateless, ...refs.map((x) => x.result), ...isoTarget];
  const lines = [...r.meta.header, ''];
  for (const t of measured) lines.push(...formatTarget(t));
  for (const x of r.references) if (typeof x.result === 'string') lines.push(`## reference gateway ${x.label}: ${x.result}`, '');
  if (typeof r.isolated === 'string') lines.push(`## isolated: ${r.isolated}`, '');
  if (r.isolated === null) lines.push('## isolated: skipped (dist/mcp/bridge/isolated.js not built)', '');
  if (iso) lines.push(...formatIsolatedOpens(r, iso));
  if (typeof r.isolatedPool === 'string') lines.push(`## isolated pool: ${r.isolatedPool}`, '');
  else if (r.isolatedPool) lines.push(...formatIsolatedBursts(r.isolatedPool));
  lines.push(
    ...formatRatios(r.targets[0], [...r.targets.slice(1), r.stateless, ...refs.map((x) => x.result)]),
    ...refs.flatMap((x) => formatRatios(x.result, [r.targets[1]], `## Berth's gateway vs ${x.label} in front of the same server (same run)`)),
    ...formatRatios(r.targets[2], [r.stateless], '## stateless 2026-07-28 vs the same bridge with 2025-11-25 sessions (same run)'),
    ...formatMemory(r),
    ...formatExpiry(r.expiry),
    ...formatWake(r.wake),
    ...(r.startup === undefined ? [] : formatStartup(r.startup)),
  );
  lines.push('## targets', ...table(['target', 'goal', 'measured', ''], checks(r, iso).map((c) => [c.label, c.goal, c.actual, mark(c.ok)])), '');

  const problems: string[] = [];
  for (const t of measured) {
    let errors = 0;
    let attempts = 0;
    for (const c of t.cells) {
      errors += c.errors;
      attempts += c.attempts;
    }
    const rate = attempts === 0 ? 1 : errors / attempts;
    if (rate > MAX_ERROR_RATE) {
      const first = t.cells.map((c) => c.firstError).find((x) => x);
      problems.push(`${t.name}: error rate ${(rate * 100).toFixed(2)}% > 1%${first ? ` (first: ${first})` : ''}`);
    }
  }
  if (typeof r.isolated === 'string') problems.push(`isolated ${r.isolated}`);
  if (typeof r.isolatedPool === 'string') problems.push(`isolated pool ${r.isolatedPool}`);
  else if (r.isolatedPool && r.isolatedPool.errors > 0) problems.push(`isolated pool: ${r.isolatedPool.errors} opens failed (first: ${r.isolatedPool.firstError})`);
  if (typeof r.memory === 'string') problems.push(`memory phase ${r.memory}`);
  else if (r.memory.errors > r.meta.idleSessions * 2 * MAX_ERROR_RATE) problems.push(`memory phase: ${r.memory.errors} session opens failed`);
  if (typeof r.expiry === 'string') problems.push(`idle expiry phase ${r.expiry}`);
  if (typeof r.wake === 'string') problems.push(`wake phase ${r.wake}`);
  if (typeof r.startup === 'string') problems.push(`memory/startup phase ${r.startup}`);
  return { text: lines.join('\n'), problems };
}
