import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

/** A lean MCP load generator: raw JSON-RPC over an undici Pool, no SDK in the hot path. */

export const PROTOCOL_VERSION = '2025-11-25';
/** The stateless revision: no session, an envelope in every request's `_meta`, standard headers. */
export const MODERN_VERSION = '2026-07-28';
const MODERN_META = JSON.stringify({
  'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 'berth-bench', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
});
const ACCEPT = 'application/json, text/event-stream';
/** Hard cap on calls per session per cell, so a loop is bounded by count as well as by time. */
const MAX_CALLS_PER_SESSION = 2_000_000;

export interface McpSession {
  id: string;
  nextId: number;
}

export interface CellOptions {
  concurrency: number;
  warmupMs: number;
  measureMs: number;
  /** Send the calls statelessly (revision 2026-07-28): no session is opened, so the cell has no open times. */
  stateless?: boolean;
  /** Sent on every request: Berth's Authorization header for its targets, nothing for direct ones. */
  headers?: Record<string, string>;
}

export interface CellResult {
  c: number;
  /** Sorted latencies (ms) of calls that started after the warm-up and finished inside the window. */
  latencies: number[];
  measureMs: number;
  /** Session-open times (initialize + notifications/initialized), ms, sorted. */
  opens: number[];
  attempts: number;
  errors: number;
  firstError: string | null;
  /** CPU time per attempted call (µs) over the whole cell, filled in by the caller when it can read it. */
  cpu?: { proxyUs: number; serverUs: number; clientUs: number };
  /** Calls/s of each slice merged into this cell, in the order measured (absent for a cell of one slice). */
  slices?: number[];
}

/** A keep-alive connection pool to one MCP endpoint. */
export class McpClientPool {
  private readonly pool: Pool;
  private readonly path: string;

  /** `headers` go on every request (Berth's Authorization: the bench measures with credentials on). */
  constructor(url: string, connections: number, private readonly extra: Record<string, string> = {}) {
    const u = new URL(url);
    this.path = `${u.pathname}${u.search}`;
    this.pool = new Pool(u.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 20_000, bodyTimeout: 20_000 });
  }

  /** initialize + notifications/initialized; returns the new session. */
  async open(): Promise<McpSession> {
    const init = { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'berth-bench', version: '1.0.0' } };
    const res = await this.post(null, JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: init }));
    const sid = res.headers['mcp-session-id'];
    const result = responseResult(res.status, res.type, res.text, 0);
    if (typeof sid !== 'string' || sid === '') throw new Error('initialize answered without an Mcp-Session-Id');
    if (typeof result.protocolVersion !== 'string') throw new Error('initialize result has no protocolVersion');
    const note = await this.post(sid, '{"jsonrpc":"2.0","method":"notifications/initialized"}');
    if (note.status !== 202) throw new Error(`notifications/initialized answered HTTP ${note.status}`);
    return { id: sid, nextId: 1 };
  }

  /** tools/call echo; throws unless the answer carries our id and echoes our text. */
  async echo(session: McpSession, text: string): Promise<void> {
    const id = session.nextId++;
    const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":${JSON.stringify(text)}}}}`;
    const res = await this.post(session.id, body);
    const result = responseResult(res.status, res.type, res.text, id);
    const content = result.content as { type?: string; text?: string }[] | undefined;
    if (result.isError === true || content?.[0]?.text !== text) throw new Error(`unexpected tools/call result: ${JSON.stringify(result).slice(0, 200)}`);
  }

  /** tools/call echo as a stateless 2026-07-28 request (no session): `_meta` envelope, MCP-Protocol-Version, Mcp-Method, Mcp-Name. */
  async statelessEcho(session: McpSession, text: string): Promise<void> {
    const id = session.nextId++;
    const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":${JSON.stringify(text)}},"_meta":${MODERN_META}}}`;
    const headers = { ...this.extra, 'content-type': 'application/json', accept: ACCEPT, 'mcp-protocol-version': MODERN_VERSION, 'mcp-method': 'tools/call', 'mcp-name': 'echo' };
    const res = await this.pool.request({ path: this.path, method: 'POST', headers, body });
    const out = await res.body.text();
    const result = responseResult(res.statusCode, String(res.headers['content-type'] ?? ''), out, id);
    const content = result.content as { type?: string; text?: string }[] | undefined;
    if (result.isError === true || content?.[0]?.text !== text || result.resultType !== 'complete') throw new Error(`unexpected stateless tools/call result: ${JSON.stringify(result).slice(0, 200)}`);
  }

  /** DELETE the session; true when the server ended it. */
  async close(session: McpSession): Promise<boolean> {
    const res = await this.pool.request({ path: this.path, method: 'DELETE', headers: this.headers(session.id) });
    await res.body.dump();
    return res.statusCode === 200 || res.statusCode === 204;
  }

  async destroy(): Promise<void> {
    await this.pool.close().catch(() => {});
  }

  private headers(sid: string | null): Record<string, string> {
    const h: Record<string, string> = { ...this.extra, 'content-type': 'application/json', accept: ACCEPT };
    if (sid !== null) {
      h['mcp-session-id'] = sid;
      h['mcp-protocol-version'] = PROTOCOL_VERSION;
    }
    return h;
  }

  private async post(sid: string | null, body: string) {
    const res = await this.pool.request({ path: this.path, method: 'POST', headers: this.headers(sid), body });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, type: String(res.headers['content-type'] ?? ''), text };
  }
}

/** The `result` of the JSON-RPC response with `id` in a JSON or SSE answer; throws on anything else. */
export function responseResult(status: number, contentType: string, text: string, id: number): Record<string, unknown> {
  if (status !== 200) throw new Error(`HTTP ${status}: ${text.slice(0, 200)}`);
  const messages: unknown[] = [];
  if (contentType.startsWith('text/event-stream')) {
    for (const event of text.split(/\r?\n\r?\n/)) {
      let data = '';
      for (const line of event.split(/\r?\n/)) if (line.startsWith('data:')) data += (data ? '\n' : '') + line.slice(line[5] === ' ' ? 6 : 5);
      if (data) messages.push(JSON.parse(data));
    }
  } else {
    const parsed: unknown = JSON.parse(text);
    messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
  }
  const found = messages.find((m) => (m as { id?: unknown } | null)?.id === id) as { result?: unknown; error?: unknown } | undefined;
  if (!found) throw new Error(`no response with id ${id} in: ${text.slice(0, 200)}`);
  if (found.error !== undefined) throw new Error(`JSON-RPC error: ${JSON.stringify(found.error).slice(0, 200)}`);
  if (typeof found.result !== 'object' || found.result === null) throw new Error('response has no result');
  return found.result as Record<string, unknown>;
}

export interface OpenedSessions {
  sessions: McpSession[];
  /** Sorted open times, ms. */
  opens: number[];
  errors: number;
  firstError: string | null;
}

/** Open `n` sessions, `concurrency` at a time, timing each. */
export async function openSessions(client: McpClientPool, n: number, concurrency: number): Promise<OpenedSessions> {
  const out: OpenedSessions = { sessions: [], opens: [], errors: 0, firstError: null };
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const t0 = performance.now();
      try {
        out.sessions.push(await client.open());
        out.opens.push(performance.now() - t0);
      } catch (err) {
        out.errors++;
        out.firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  out.opens.sort((a, b) => a - b);
  return out;
}

/** DELETE every session, `concurrency` at a time; returns how many the server did not end. */
export async function closeSessions(client: McpClientPool, sessions: McpSession[], concurrency: number): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < sessions.length) {
      const s = sessions[next++]!;
      if (!(await client.close(s).catch(() => false))) failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(sessions.length, concurrency) }, worker));
  return failed;
}

/**
 * One cell: open C sessions at once, then every session loops tools/call echo for warm-up + measure,
 * then closes. Only calls that start after the warm-up and end inside the window are measured.
 */
export async function runCell(url: string, opts: CellOptions): Promise<CellResult> {
  const client = new McpClientPool(url, opts.concurrency, opts.headers);
  try {
    const opened: OpenedSessions = opts.stateless
      ? { sessions: Array.from({ length: opts.concurrency }, (_, i) => ({ id: `stateless-${i}`, nextId: 1 })), opens: [], errors: 0, firstError: null }
      : await openSessions(client, opts.concurrency, opts.concurrency);
    const result: CellResult = {
      c: opts.concurrency,
      latencies: [],
      measureMs: opts.measureMs,
      opens: opened.opens,
      // Session opens count as attempts; a stateless cell has none.
      attempts: opts.stateless ? 0 : opts.concurrency,
      errors: opened.errors,
      firstError: opened.firstError,
    };
    const warmEnd = performance.now() + opts.warmupMs;
    const end = warmEnd + opts.measureMs;
    const loop = async (session: McpSession, n: number) => {
      for (let i = 0; i < MAX_CALLS_PER_SESSION && performance.now() < end; i++) {
        const t0 = performance.now();
        let ok = true;
        try {
          if (opts.stateless) await client.statelessEcho(session, `s${n}-${i}`);
          else await client.echo(session, `s${n}-${i}`);
        } catch (err) {
          ok = false;
          result.errors++;
          result.firstError ??= (err as Error).message;
        }
        const t1 = performance.now();
        result.attempts++;
        if (ok && t0 >= warmEnd && t1 <= end) result.latencies.push(t1 - t0);
      }
    };
    await Promise.all(opened.sessions.map((s, n) => loop(s, n)));
    result.latencies.sort((a, b) => a - b);
    if (!opts.stateless) await closeSessions(client, opened.sessions, opts.concurrency);
    return result;
  } finally {
    await client.destroy();
  }
}

/**
 * `n` sessions opened at once, `rounds` times on the same connections (each round's sessions closed before
 * the next, `pauseMs` apart): the open times, sorted.
 */
export async function measureBurstOpens(url: string, n: number, rounds: number, pauseMs: number, headers: Record<string, string> = {}): Promise<OpenedSessions> {
  const client = new McpClientPool(url, n, headers);
  const out: OpenedSessions = { sessions: [], opens: [], errors: 0, firstError: null };
  try {
    for (let r = 0; r < rounds; r++) {
      const opened = await openSessions(client, n, n);
      out.opens.push(...opened.opens);
      out.errors += opened.errors;
      out.firstError ??= opened.firstError;
      await closeSessions(client, opened.sessions, n);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  } finally {
    await client.destroy();
  }
  out.opens.sort((a, b) => a - b);
  return out;
}

/** Session-open time one at a time on an already open connection (after `warmup` untimed opens); sessions are closed after. */
export async function measureOpens(url: string, n: number, warmup = 10, headers: Record<string, string> = {}): Promise<OpenedSessions> {
  const client = new McpClientPool(url, 1, headers);
  try {
    const warm = await openSessions(client, warmup, 1);
    await closeSessions(client, warm.sessions, 1);
    const timed = await openSessions(client, n, 1);
    await closeSessions(client, timed.sessions, 1);
    return { ...timed, errors: timed.errors + warm.errors, firstError: timed.firstError ?? warm.firstError };
  } finally {
    await client.destroy();
  }
}

/** Nearest-rank percentile of sorted samples (NaN when empty). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Two slices of the same target and C as one cell (latencies and opens re-sorted, counts added). */
export function mergeCells(a: CellResult, b: CellResult): CellResult {
  const rps = (x: CellResult) => x.slices ?? [x.latencies.length / (x.measureMs / 1000)];
  return {
    slices: [...rps(a), ...rps(b)],
    c: a.c,
    latencies: [...a.latencies, ...b.latencies].sort((x, y) => x - y),
    measureMs: a.measureMs + b.measureMs,
    opens: [...a.opens, ...b.opens].sort((x, y) => x - y),
    attempts: a.attempts + b.attempts,
    errors: a.errors + b.errors,
    firstError: a.firstError ?? b.firstError,
  };
}
