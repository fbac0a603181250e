// Plain HTTP on sockets the test controls: a chosen loopback source address, a client that never reads, a
// body sent a byte at a time; and Berth's memory from /proc. For the abuse suites.
import { request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';

export interface CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Source address of the connection (any of 127.0.0.0/8 reaches a server on 127.0.0.1). */
  localAddress?: string;
  timeoutMs?: number;
}

export interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One HTTP request on a fresh connection, the whole answer read. Rejects on a connection error or after `timeoutMs`. */
export function httpCall(url: string, opts: CallOptions = {}): Promise<CallResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, localAddress: opts.localAddress, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer from ${url} within ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** initialize + notifications/initialized by hand; returns the session id. */
export async function openSession(endpoint: string, auth: Record<string, string>, localAddress?: string): Promise<string> {
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'abuse', version: '0' } } };
  const r = await httpCall(endpoint, { method: 'POST', headers: { ...MCP_HEADERS, ...auth }, body: JSON.stringify(init), localAddress });
  const sid = r.headers['mcp-session-id'];
  if (r.status !== 200 || typeof sid !== 'string') throw new Error(`initialize: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  await httpCall(endpoint, { method: 'POST', headers: { ...MCP_HEADERS, ...auth, 'mcp-session-id': sid }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), localAddress });
  return sid;
}

/** A JSON-RPC request on a session; the raw answer. */
export function mcpCall(endpoint: string, auth: Record<string, string>, sid: string | null, msg: object, localAddress?: string): Promise<CallResult> {
  const headers: Record<string, string> = { ...MCP_HEADERS, ...auth, ...(sid ? { 'mcp-session-id': sid } : {}) };
  return httpCall(endpoint, { method: 'POST', headers, body: JSON.stringify(msg), localAddress });
}

/** A session's GET stream (SSE), open once it answered 200; `close()` ends it. The caller reads (or resumes) `res`. */
export function openStream(endpoint: string, sid: string, auth: Record<string, string>, localAddress?: string): Promise<{ res: IncomingMessage; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(endpoint, { method: 'GET', localAddress, headers: { accept: 'text/event-stream', 'mcp-session-id': sid, ...auth } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET stream: HTTP ${res.statusCode}`));
      resolve({ res, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

export interface RawConn {
  socket: Socket;
  /** When the connection was made. */
  openedAt: number;
  /** Set when the socket closed (either side), with the time it happened. */
  closedAt: number | null;
  closed: Promise<void>;
}

/** A TCP connection to `port` on 127.0.0.1 that reads nothing unless the test resumes it. */
export function rawConnect(port: number, localAddress?: string): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    const conn: RawConn = { socket, openedAt: Date.now(), closedAt: null, closed: Promise.resolve() };
    conn.closed = new Promise((r) =>
      socket.once('close', () => {
        conn.closedAt = Date.now();
        r();
      }),
    );
    socket.on('error', () => {});
    socket.once('connect', () => {
      conn.openedAt = Date.now();
      resolve(conn);
    });
    socket.once('error', reject);
  });
}

/** The head of an HTTP/1.1 request (`Host` and the given headers). */
export function requestHead(method: string, path: string, port: number, headers: Record<string, string>): string {
  let head = `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return `${head}\r\n`;
}

/**
 * Reads what a (paused) socket still has for us, up to `max` bytes or `timeoutMs`; ends early when the socket
 * closes, or when one whole answer with a Content-Length has arrived.
 */
export function drain(conn: RawConn, max: number, timeoutMs: number): Promise<{ bytes: number; text: string; ended: boolean }> {
  return new Promise((resolve) => {
    const head: Buffer[] = [];
    let bytes = 0;
    let headBytes = 0;
    const finish = (ended: boolean): void => {
      clearTimeout(timer);
      conn.socket.off('data', onData);
      conn.socket.pause();
      resolve({ bytes, text: Buffer.concat(head).toString('latin1'), ended });
    };
    const onData = (c: Buffer): void => {
      bytes += c.length;
      if (headBytes < 4096) {
        head.push(c.subarray(0, 4096 - headBytes));
        headBytes += Math.min(c.length, 4096 - headBytes);
      }
      if (bytes > max || answered(Buffer.concat(head).toString('latin1'), bytes)) finish(false);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    if (conn.closedAt !== null && conn.socket.readableLength === 0) {
      finish(true);
      return;
    }
    conn.socket.on('data', onData);
    void conn.closed.then(() => finish(true));
    conn.socket.resume();
  });
}

/** True when `head` (the first bytes) shows an answer with a Content-Length and `bytes` covers all of it. */
function answered(head: string, bytes: number): boolean {
  const end = head.indexOf('\r\n\r\n');
  const length = /\r\ncontent-length: (\d+)/i.exec(head.slice(0, end))?.[1];
  return end !== -1 && length !== undefined && bytes >= end + 4 + Number(length);
}

export interface Memory {
  rss: number;
  hwm: number;
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes. */
export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

export const MiB = 1024 * 1024;
