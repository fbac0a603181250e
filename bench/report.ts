import { percentile, type CellResult } from './load.js';

export interface TargetResult {
  name: string;
  cells: CellResult[];
  note?: string;
  /** Session opens one at a time on a warm connection, ms, sorted. */
  serialOpens?: number[];
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

export interface TargetCheck {
  label: string;
  goal: string;
  actual: string;
  ok: boolean | null;
}

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

export const ms = (v: number, digits = 2): string => (Number.isFinite(v) ? v.toFixed(digits) : '—');
export const ratio = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '—');
export const mark = (ok: boolean | null): string => (ok === null ? '–' : ok ? '✓' : '✗');

/** A plain text table with right-aligned columns (the first column left-aligned). */
export function table(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

const us = (cpu: CellResult['cpu']): string => (cpu ? [cpu.berthUs, cpu.serverUs, cpu.clientUs].map((v) => (Number.isFinite(v) ? v.toFixed(0) : '—')).join(' / ') : '—');

export function formatTarget(t: TargetResult): string[] {
  const cpu = t.cells.some((c) => c.cpu);
  const rows = t.cells.map(summarize).map((s) => [
    String(s.c),
    ms(s.p50, 3),
    ms(s.p99, 3),
    s.rps.toFixed(0),
    ms(s.openP50, 2),
    ms(s.openP99, 2),
    `${s.errors}/${s.attempts}`,
    ...(cpu ? [us(t.cells.find((c) => c.c === s.c)?.cpu)] : []),
  ]);
  const out = [`## ${t.name}`];
  if (t.note) out.push(t.note);
  const head = ['C', 'p50 ms', 'p99 ms', 'calls/s', 'open p50 ms', 'open p99 ms', 'errors'];
  out.push(...table(cpu ? [...head, 'CPU µs/call berth / server / client'] : head, rows));
  const so = t.serialOpens;
  if (so?.length) out.push(`session open one at a time, warm connection: p50 ${ms(percentile(so, 0.5))} ms, p99 ${ms(percentile(so, 0.99))} ms (${so.length} opens)`);
  return [...out, ''];
}

/** Throughput and p50 of each target against the direct baseline, at each C both measured. */
export function formatRatios(direct: TargetResult, others: TargetResult[]): string[] {
  const base = new Map(direct.cells.map((c) => [c.c, summarize(c)]));
  const rows: string[][] = [];
  for (const t of others) {
    for (const cell of t.cells) {
      const d = base.get(cell.c);
      if (!d) continue;
      const s = summarize(cell);
      rows.push([t.name, String(s.c), ratio(s.rps / d.rps), ratio(s.p50 / d.p50), `${ms(s.p50 - d.p50, 3)} ms`]);
    }
  }
  return ['## ratios vs direct (same run)', ...table(['target', 'C', 'calls/s ratio', 'p50 ratio', 'p50 added'], rows), ''];
}

export function formatChecks(checks: TargetCheck[]): string[] {
  const rows = checks.map((c) => [c.label, c.goal, c.actual, mark(c.ok)]);
  return ['## targets', ...table(['target', 'goal', 'measured', ''], rows), ''];
}

/** The share of failed attempts in a target's cells. */
export function errorRate(t: TargetResult): number {
  let errors = 0;
  let attempts = 0;
  for (const c of t.cells) {
    errors += c.errors;
    attempts += c.attempts;
  }
  return attempts === 0 ? 1 : errors / attempts;
}
