/**
 * Sending fuzz requests: an undici Pool for well-framed requests (keep-alive, many connections,
 * pipelining 1) and a raw TCP socket for what undici refuses to send (bad Content-Length, odd
 * methods, non-ASCII header bytes, malformed header lines, a chosen Host).
 */
import { connect } from 'node:net';
import { Pool } from 'undici';
import type { Answer } from './oracle.js';
import type { RawTweaks } from './cases.js';

export interface WireRequest {
  method: string;
  path: string;
  headers: [string, string][];
  body: Buffer | null;
  /** For answers that may never end (GET streams, subscriptions/listen): stop reading an event stream this long after the headers. */
  streamMs: number;
  /** Cut event-stream answers after streamMs (default: for GET only). */
  endless?: boolean;
  /** Give up (and report) after this long. */
  deadlineMs: number;
}

export type WireResult =
  | {
      ok: true;
      answers: Answer[];
      ms: number;
      /** Raw wire: the deadline passed before the server closed the connection. */
      late?: boolean;
      /** Raw wire: a complete answer came, but the server kept the connection open although the request said `Connection: close`. */
      keptOpen?: boolean;
    }
  | { ok: false; error: string; ms: number; timedOut: boolean };

const BODY_CAP = 2 * 1024 * 1024;

export function makePool(origin: string, connections: number): Pool {
  return new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { timeout: 10_000 },
  });
}

/** One request through the pool. Never throws. */
export async function sendPool(pool: Pool, r: WireRequest): Promise<WireResult> {
  const t0 = performance.now();
  try {
    const flat: string[] = [];
    for (const [k, v] of r.headers) flat.push(k, v);
    // undici's own timeouts (no AbortController per request: it is the hot path).
    const res = await pool.request({
      method: r.method as 'POST',
      path: r.path,
      headers: flat,
      body: r.body ?? undefined,
      headersTimeout: r.deadlineMs,
      bodyTimeout: r.deadlineMs,
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let cut = false;
    const ct = String(res.headers['content-type'] ?? '');
    let streamTimer: NodeJS.Timeout | null = null;
    if (ct.startsWith('text/event-stream') && (r.endless ?? r.method === 'GET')) {
      streamTimer = setTimeout(() => {
        cut = true;
        res.body.destroy();
      }, r.streamMs);
    }
    try {
      for await (const c of res.body) {
        const b = c as Buffer;
        size += b.length;
        if (size > BODY_CAP) {
          cut = true;
          res.body.destroy();
          break;
        }
        chunks.push(b);
      }
    } catch (err) {
      if (!cut) throw err;
    } finally {
      if (streamTimer) clearTimeout(streamTimer);
    }
    const answer: Answer = { status: res.statusCode, headers: res.headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), cut };
    return { ok: true, answers: [answer], ms: performance.now() - t0 };
  } catch (err) {
    const e = err as Error & { code?: string };
    const timedOut = e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT';
    return { ok: false, error: `${e.name}: ${e.message}${e.code ? ` (${e.code})` : ''}`, ms: performance.now() - t0, timedOut };
  }
}

/** Build the request bytes for the raw wire. */
export function rawRequestBytes(r: WireRequest, hostHeader: string, tweaks: RawTweaks, extraHeaderLines: string[]): Buffer {
  const body = r.body ?? Buffer.alloc(0);
  const lines = [`${r.method} ${r.path} ${tweaks.httpVersion ?? 'HTTP/1.1'}`];
  if (tweaks.host !== null) lines.push(`Host: ${tweaks.host ?? hostHeader}`);
  for (const [k, v] of r.headers) lines.push(`${k}: ${v}`);
  lines.push(...extraHeaderLines);
  if (tweaks.junkHeader !== undefined) lines.push(tweaks.junkHeader);
  lines.push('Connection: close');
  let payload = body;
  if (tweaks.chunked) {
    lines.push('Transfer-Encoding: chunked');
    payload = body.length === 0 ? Buffer.from('0\r\n\r\n') : Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  } else {
    switch (tweaks.contentLength) {
      case 'short':
        lines.push(`Content-Length: ${Math.max(0, body.length - 1 - (body.length >> 2))}`);
        break;
      case 'long':
        lines.push(`Content-Length: ${body.length + 17}`);
        break;
      case 'bad':
        lines.push(`Content-Length: ${body.length}x`);
        break;
      case 'double':
        lines.push(`Content-Length: ${body.length}`, `Content-Length: ${body.length + 1}`);
        break;
      case 'none':
        break;
      default:
        if (body.length > 0 || r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH') lines.push(`Content-Length: ${body.length}`);
    }
  }
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), payload]);
}

/** One request over a fresh socket with `Connection: close`; parses every response that comes back. */
export function sendRaw(port: number, bytes: Buffer, r: WireRequest, halfClose: boolean): Promise<WireResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let cutStream = false;
    let keptOpen = false;
    let streamTimer: NodeJS.Timeout | null = null;
    let completeTimer: NodeJS.Timeout | null = null;
    const finish = (err: string | null, timedOut = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (streamTimer) clearTimeout(streamTimer);
      if (completeTimer) clearTimeout(completeTimer);
      sock.destroy();
      const buf = Buffer.concat(chunks);
      const ms = performance.now() - t0;
      if (err !== null && buf.length === 0) {
        resolve({ ok: false, error: err, ms, timedOut });
        return;
      }
      try {
        resolve({ ok: true, answers: parseResponses(buf, r.method, cutStream || timedOut || (r.endless ?? r.method === 'GET')), ms, late: timedOut, keptOpen });
      } catch (e) {
        resolve({ ok: false, error: `unparseable HTTP response: ${(e as Error).message}: ${JSON.stringify(buf.subarray(0, 300).toString('latin1'))}`, ms, timedOut: false });
      }
    };
    const deadline = setTimeout(() => finish('no complete answer before the deadline', true), r.deadlineMs);
    sock.on('connect', () => {
      sock.write(bytes);
      if (halfClose) sock.end();
    });
    sock.on('data', (c: Buffer) => {
      size += c.length;
      if (size > BODY_CAP) {
        finish(null);
        return;
      }
      chunks.push(c);
      const all = Buffer.concat(chunks);
      if (!streamTimer && (r.endless ?? r.method === 'GET')) {
        const head = all.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end !== -1 && /content-type:\s*text\/event-stream/i.test(head.slice(0, end))) {
          streamTimer = setTimeout(() => {
            cutStream = true;
            finish(null);
          }, r.streamMs);
        }
      }
      // A complete answer: the server should now close (we sent Connection: close). Give it two seconds of this
      // process's own time (Berth keeps an idle connection 65 s, so a connection it failed to close is still open): when the timer fires late (this event loop was starved on a busy machine), the close
      // may be waiting behind it, so wait again (up to 5 times), and let pending I/O run first (setImmediate).
      if (!completeTimer && completeResponse(all, r.method)) {
        const wait = (tries: number): void => {
          const armed = performance.now();
          completeTimer = setTimeout(() => {
            setImmediate(() => {
              if (settled) return;
              if (performance.now() - armed > 2500 && tries < 5) return wait(tries + 1);
              keptOpen = true;
              finish(null);
            });
          }, 2000);
        };
        wait(0);
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => finish(`${e.code ?? e.name}: ${e.message}`));
    sock.on('close', () => finish(null));
  });
}

/** True when `buf` holds at least one complete response framed by Content-Length or chunked encoding. */
function completeResponse(buf: Buffer, method: string): boolean {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const head = buf.subarray(0, end).toString('latin1').toLowerCase();
  const status = Number(head.slice(9, 12));
  if (method === 'HEAD' || status === 204 || status === 304) return true;
  const cl = /\r\ncontent-length:\s*(\d+)/.exec(head);
  if (cl) return buf.length >= end + 4 + Number(cl[1]);
  if (/\r\ntransfer-encoding:\s*chunked/.test(head)) return buf.subarray(end + 4).includes('0\r\n\r\n') && buf.subarray(buf.length - 5).toString('latin1') === '0\r\n\r\n';
  return false;
}

/** Split a byte stream into HTTP/1.1 responses (Content-Length, chunked, or to the end). */
export function parseResponses(buf: Buffer, method: string, cut: boolean): Answer[] {
  const out: Answer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (end === -1) throw new Error('incomplete response head');
    const head = buf.subarray(pos, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(head[0] ?? '');
    if (!m) throw new Error(`bad status line ${JSON.stringify(head[0])}`);
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      if (i <= 0) throw new Error(`bad header line ${JSON.stringify(line)}`);
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    pos = end + 4;
    let body: Buffer;
    let isCut = false;
    if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      body = Buffer.alloc(0);
    } else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf('\r\n', pos, 'latin1');
        if (le === -1) {
          if (!cut) throw new Error('incomplete chunked body');
          isCut = true;
          break;
        }
        const n = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
        if (!Number.isFinite(n)) throw new Error('bad chunk size');
        pos = le + 2;
        if (n === 0) {
          const trailerEnd = buf.indexOf('\r\n', pos, 'latin1');
          pos = trailerEnd === -1 ? buf.length : trailerEnd + 2;
          break;
        }
        if (pos + n > buf.length) {
          if (!cut) throw new Error('incomplete chunk');
          parts.push(buf.subarray(pos));
          pos = buf.length;
          isCut = true;
          break;
        }
        parts.push(buf.subarray(pos, pos + n));
        pos += n + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (!Number.isInteger(n) || n < 0) throw new Error('bad content-length');
      if (pos + n > buf.length) throw new Error('body shorter than content-length');
      body = buf.subarray(pos, pos + n);
      pos += n;
    } else {
      body = buf.subarray(pos);
      pos = buf.length;
      isCut = cut;
    }
    out.push({ status, headers, body, cut: isCut });
  }
  return out;
}
