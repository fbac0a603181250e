import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BerthError, ErrorCode } from '../core/errors.js';
import {
  INTERNAL_ERROR,
  INVALID_REQUEST,
  PARSE_ERROR,
  REQUEST_TIMEOUT,
  SESSION_NOT_FOUND,
  TOO_MANY_SESSIONS,
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
  METHOD_NOT_ALLOWED: INVALID_REQUEST,
  VALIDATION_FAILED: INVALID_REQUEST,
  SESSION_NOT_FOUND,
  TOO_MANY_SESSIONS,
  UPSTREAM_UNAVAILABLE,
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

/** One SSE `message` event carrying a serialised JSON-RPC message. */
export function sseEvent(json: string): string {
  return `event: message\ndata: ${json}\n\n`;
}

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
