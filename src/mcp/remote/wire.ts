/**
 * HTTP plumbing shared by the remote channels and detection: one undici pool per remote origin,
 * the user's headers on every request, and a reader that turns a Streamable HTTP answer (a JSON
 * body, a JSON batch or an event stream) into JSON-RPC messages as they arrive.
 */
import { Pool, type Dispatcher } from 'undici';
import type { JsonRpcMessage } from '../wire/jsonrpc.js';
import { isMessage } from '../wire/jsonrpc.js';
import { SseParser } from '../../core/sse.js';
import type { ConnectGuard } from './ssrf.js';

export const JSON_AND_SSE = 'application/json, text/event-stream';

/**
 * An idle connection to a remote is closed after this long (sooner when the remote's Keep-Alive hint says
 * so): below the 5 s idle timeout of common servers (node, uvicorn) that send no hint, so a request is
 * rarely written onto a connection the remote is closing. Such a request fails; it is never sent again.
 */
export const IDLE_MS = 4_000;

export interface RemoteRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path and query on the remote origin (default: the endpoint's). */
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** Requests to one remote MCP endpoint, with the deployment's headers (e.g. Authorization) added. */
export class RemoteHttp {
  readonly origin: string;
  readonly path: string;
  private readonly pool: Pool;

  constructor(
    readonly endpoint: string,
    private readonly headers: Record<string, string>,
    /** Longest wait for response headers. */
    readonly timeoutMs: number,
    /** Which addresses connections may go to (the SSRF guard). Redirects are never followed. */
    guard: ConnectGuard,
  ) {
    const url = new URL(endpoint);
    this.origin = url.origin;
    this.path = `${url.pathname}${url.search}`;
    // Channels hold long-lived streams (legacy SSE, GET streams, listen streams): one connection each, no cap.
    this.pool = new Pool(this.origin, { connections: null, pipelining: 1, keepAliveTimeout: IDLE_MS, connect: guard.connector() });
  }

  /** The path of `url` when it is on this remote's origin; undefined otherwise (never send credentials elsewhere). */
  sameOriginPath(url: string): string | undefined {
    let u: URL;
    try {
      u = new URL(url, this.endpoint);
    } catch {
      return undefined;
    }
    return u.origin === this.origin ? `${u.pathname}${u.search}` : undefined;
  }

  request(r: RemoteRequest): Promise<Dispatcher.ResponseData> {
    return this.pool.request({
      path: r.path ?? this.path,
      method: r.method,
      headers: { ...r.headers, ...this.headers },
      body: r.body ?? null,
      signal: r.signal,
      headersTimeout: this.timeoutMs,
      bodyTimeout: 0,
    });
  }

  async close(): Promise<void> {
    await this.pool.destroy().catch(() => {});
  }
}

export function contentType(res: Dispatcher.ResponseData): string {
  const v = res.headers['content-type'];
  return ((Array.isArray(v) ? v[0] : v) ?? '').toLowerCase();
}

export function headerOf(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Messages in a JSON body: one message or a batch; anything else yields nothing. */
export function messagesIn(text: string): JsonRpcMessage[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.filter(isMessage);
}

/**
 * Reads a Streamable HTTP answer to its end, handing over each JSON-RPC message as soon as it is
 * complete (SSE events one by one; a JSON body at the end). Rejects if the body fails mid-way.
 */
export async function readMessages(res: Dispatcher.ResponseData, onMessage: (m: JsonRpcMessage) => void): Promise<void> {
  if (contentType(res).startsWith('text/event-stream')) {
    await readEvents(res, (e) => {
      if (e.event !== 'message') return;
      for (const m of messagesIn(e.data)) onMessage(m);
    });
    return;
  }
  const text = await res.body.text();
  for (const m of messagesIn(text)) onMessage(m);
}

/** Feeds an event-stream body to `onEvent` until it ends. */
export async function readEvents(res: Dispatcher.ResponseData, onEvent: (e: { event: string; data: string }) => void): Promise<void> {
  const parser = new SseParser(onEvent);
  const decoder = new TextDecoder();
  for await (const chunk of res.body) parser.push(typeof chunk === 'string' ? chunk : decoder.decode(chunk as Uint8Array, { stream: true }));
  parser.push(decoder.decode());
  parser.end();
}

/** The JSON-RPC error an HTTP error answer carries, if its body is one. */
export function rpcErrorIn(text: string): { code: number; message: string; data?: unknown } | undefined {
  for (const m of messagesIn(text)) if ('error' in m) return m.error;
  return undefined;
}

/** `Mcp-Name` style header value: printable ASCII as is, anything else as the `=?base64?…?=` sentinel. */
export function encodeHeaderValue(v: string): string {
  if (/^[\x20-\x7e]*$/.test(v) && v.trim() === v && !/^=\?base64\?/i.test(v)) return v;
  return `=?base64?${Buffer.from(v, 'utf8').toString('base64')}?=`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
