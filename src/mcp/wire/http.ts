import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BerthError, ErrorCode } from '../../core/errors.js';
import {
  INTERNAL_ERROR,
  INVALID_REQUEST,
  PARSE_ERROR,
  RATE_LIMITED,
  REQUEST_TIMEOUT,
  SERVER_BUSY,
  SESSION_NOT_FOUND,
  TOO_MANY_SESSIONS,
  UPSTREAM_BUSY,
  UPSTREAM_EXITED,
  UPSTREAM_UNAVAILABLE,
  errorResponse,
} from './jsonrpc.js';

/** Protocol revisions the Streamable HTTP transport accepts, newest first. */
export const SUPPORTED_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;
export const LATEST_PROTOCOL_VERSION = SUPPORTED_PROTOCOL_VERSIONS[0];

export const SESSION_HEADER = 'mcp-session-id';
export const VERSION_HEADER = 'mcp-protocol-version';

export function isSupportedVersion(v: unknown): boolean {
  return typeof v === 'string' && (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(v);
}

export function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** True when the Accept header allows every one of `types` (a missing header allows anything). */
export function acceptsAll(accept: string | undefined, types: readonly string[]): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  const ranges = accept.split(',').map((r) => (r.split(';')[0] ?? '').trim().toLowerCase());
  return types.every((t) => {
    const major = t.split('/')[0];
    return ranges.some((r) => r === t || r === '*/*' || r === `${major}/*`);
  });
}

export function isJsonContentType(ct: string | undefined): boolean {
  if (!ct) return false;
  return (ct.split(';')[0] ?? '').trim().toLowerCase() === 'application/json';
}

/** Answer with a JSON-RPC error body (`id: null`, optional `data`) and an HTTP status. */
export function sendRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
  data?: unknown,
): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const body = JSON.stringify(errorResponse(null, code, message, data));
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, json: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

/** The JSON-RPC code an HTTP-level refusal carries; the stable Berth code goes in `error.data.code`. */
const RPC_CODES: Partial<Record<ErrorCode, number>> = {
  INVALID_JSON: PARSE_ERROR,
  INVALID_JSONRPC: INVALID_REQUEST,
  MISSING_SESSION: INVALID_REQUEST,
  UNSUPPORTED_PROTOCOL_VERSION: INVALID_REQUEST,
  UNSUPPORTED_MEDIA_TYPE: INVALID_REQUEST,
  NOT_ACCEPTABLE: INVALID_REQUEST,
  UNKNOWN_EVENT_ID: INVALID_REQUEST,
  METHOD_NOT_ALLOWED: INVALID_REQUEST,
  VALIDATION_FAILED: INVALID_REQUEST,
  SESSION_NOT_FOUND,
  SESSION_DRAINED: SESSION_NOT_FOUND,
  TOO_MANY_SESSIONS,
  UPSTREAM_UNAVAILABLE,
  UPSTREAM_BUSY,
  RATE_LIMITED,
  SERVER_BUSY,
  UPSTREAM_TIMEOUT: REQUEST_TIMEOUT,
  UPSTREAM_FAILED: UPSTREAM_EXITED,
  INTERNAL: INTERNAL_ERROR,
};

export function rpcCodeFor(code: ErrorCode): number {
  return RPC_CODES[code] ?? -32000;
}

/** Refuse an MCP HTTP request: the catalogue's HTTP status, a JSON-RPC error body, `data.code` = the stable code. */
export function sendError(res: ServerResponse, err: BerthError, headers: Record<string, string> = {}): void {
  sendRpcError(res, err.status, rpcCodeFor(err.code), err.message, headers, { code: err.code });
}

/** One SSE `message` event carrying a serialised JSON-RPC message (one line: JSON text escapes newlines), with its id if given. */
export function sseEvent(json: string, id?: string): string {
  return id === undefined ? `event: message\ndata: ${json}\n\n` : `event: message\nid: ${id}\ndata: ${json}\n\n`;
}

/**
 * The priming event of a resumable stream (2025-11-25): an id and empty data, so the client can
 * reconnect with `Last-Event-ID` even if the connection drops before the first message. Clients of
 * older revisions may try to parse the empty data, so it is only sent to 2025-11-25 sessions.
 */
export function ssePriming(id: string): string {
  return `id: ${id}\ndata: \n\n`;
}

/** An SSE comment (clients ignore it; people reading the stream do not). */
export function sseComment(text: string): string {
  return `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
}

export const LAST_EVENT_ID_HEADER = 'last-event-id';

export const SSE_KEEPALIVE = ': keepalive\n\n';

export function startSse(res: ServerResponse, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
}
