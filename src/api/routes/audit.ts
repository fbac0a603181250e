import type { ServerResponse } from 'node:http';
import type { AuditLog } from '../../control/audit.js';
import { BerthError } from '../../core/errors.js';
import { durationMs } from '../../core/duration.js';
import type { AuditEntry, AuditQuery, AuditResult } from '../../store/types.js';
import { sendJson } from '../http.js';
import type { Router } from '../router.js';

const RESULTS: readonly AuditResult[] = ['ok', 'denied', 'error'];
const COLUMNS = ['seq', 'at', 'actor', 'actor_name', 'action', 'target', 'source', 'result', 'code', 'detail'] as const;

function time(q: URLSearchParams, key: string, now: number): string | undefined {
  const raw = q.get(key);
  if (raw === null || raw === '') return undefined;
  const ago = durationMs(raw, ['s', 'm', 'h', 'd']);
  if (ago !== null) return new Date(now - ago).toISOString();
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new BerthError('VALIDATION_FAILED', `${key} must be an ISO-8601 time or a duration such as 30m, 24h, 7d`);
  return new Date(t).toISOString();
}

/** The audit query from `?since&until&actor&action&target&result&after&limit`. */
export function auditQuery(q: URLSearchParams, now = Date.now()): AuditQuery {
  const out: AuditQuery = { since: time(q, 'since', now), until: time(q, 'until', now) };
  for (const key of ['actor', 'action', 'target'] as const) {
    const v = q.get(key);
    if (v) out[key] = v;
  }
  const result = q.get('result');
  if (result) {
    if (!RESULTS.includes(result as AuditResult)) throw new BerthError('VALIDATION_FAILED', `result must be one of ${RESULTS.join(', ')}`);
    out.result = result as AuditResult;
  }
  for (const [key, field, max] of [
    ['after', 'afterSeq', Number.MAX_SAFE_INTEGER],
    ['limit', 'limit', 10_000],
  ] as const) {
    const v = q.get(key);
    if (v === null) continue;
    if (!/^\d+$/.test(v) || Number(v) > max) throw new BerthError('VALIDATION_FAILED', `${key} must be a whole number up to ${max}`);
    out[field] = Number(v);
  }
  return out;
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  // A leading =, +, - or @ would be a formula in a spreadsheet: quote it away.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

function sendExport(res: ServerResponse, format: string, items: AuditEntry[]): void {
  if (format === 'ndjson') {
    res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
    res.end(items.map((e) => `${JSON.stringify(e)}\n`).join(''));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8', 'cache-control': 'no-store', 'content-disposition': 'attachment; filename="berth-audit.csv"' });
  res.end([COLUMNS.join(','), ...items.map((e) => COLUMNS.map((c) => csvCell(e[c])).join(','))].join('\r\n') + '\r\n');
}

/** GET /api/audit: query (JSON) or export (`format=ndjson|csv`) the audit log. Admin only. */
export function auditRoutes(router: Router, audit: Pick<AuditLog, 'query'>): void {
  router.add('GET', '/api/audit', { need: 'admin' }, async ({ res, query }) => {
    const format = query.get('format') ?? 'json';
    if (!['json', 'ndjson', 'csv'].includes(format)) throw new BerthError('VALIDATION_FAILED', 'format must be json, ndjson or csv');
    const items = await audit.query(auditQuery(query));
    if (format === 'json') sendJson(res, 200, { items });
    else sendExport(res, format, items);
  });
}
