/**
 * JSON-RPC 2.0 message shapes, type guards and error builders used by the MCP bridge.
 *
 * Standard codes follow the JSON-RPC spec. Berth's own codes live in the implementation-defined
 * server-error range (-32000..-32099):
 *
 * | code   | name                 | meaning                                                            |
 * |--------|----------------------|--------------------------------------------------------------------|
 * | -32000 | UPSTREAM_EXITED      | the MCP server process exited while the request was in flight      |
 * | -32001 | REQUEST_TIMEOUT      | the MCP server gave no answer within the request timeout           |
 * | -32010 | UPSTREAM_UNAVAILABLE | the server is not running (gave up restarting, closing, spawn fail)|
 * | -32011 | TOO_MANY_SESSIONS    | the deployment is at its session (or process) limit                |
 * | -32012 | SESSION_NOT_FOUND    | unknown or expired Mcp-Session-Id; re-initialize                   |
 * | -32013 | RESPONSE_TOO_LARGE   | the server's answer is longer than the stdout line limit (dropped) |
 * | -32014 | UPSTREAM_BUSY        | the server is not reading its stdin: the bounded input buffer is full |
 * | -32015 | RATE_LIMITED         | the token's or deployment's request rate is over its limit (HTTP 429) |
 * | -32016 | SERVER_BUSY          | Berth is reading too many request bodies at once (HTTP 503)        |
 */

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcSuccess {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: unknown;
}

export interface JsonRpcFailure {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

export const UPSTREAM_EXITED = -32000;
export const REQUEST_TIMEOUT = -32001;
export const UPSTREAM_UNAVAILABLE = -32010;
export const TOO_MANY_SESSIONS = -32011;
export const SESSION_NOT_FOUND = -32012;
export const UPSTREAM_BUSY = -32014;
export const RATE_LIMITED = -32015;
export const SERVER_BUSY = -32016;

/** A JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** MCP request ids are strings or integers (the SDKs drop anything else without an answer, so refuse it up front). */
function isId(v: unknown): v is JsonRpcId {
  return typeof v === 'string' || Number.isSafeInteger(v);
}

/** MCP params are an object when present (by-position arrays are JSON-RPC, not MCP). */
function paramsOk(v: Record<string, unknown>): boolean {
  return v.params === undefined || isObject(v.params);
}

export function isRequest(v: unknown): v is JsonRpcRequest {
  return isObject(v) && v.jsonrpc === '2.0' && typeof v.method === 'string' && isId(v.id) && paramsOk(v);
}

export function isNotification(v: unknown): v is JsonRpcNotification {
  return isObject(v) && v.jsonrpc === '2.0' && typeof v.method === 'string' && !('id' in v) && paramsOk(v);
}

export function isResponse(v: unknown): v is JsonRpcResponse {
  if (!isObject(v) || v.jsonrpc !== '2.0' || 'method' in v) return false;
  if ('result' in v) return isId(v.id) && !('error' in v);
  if (!isObject(v.error)) return false;
  return (isId(v.id) || v.id === null) && typeof v.error.code === 'number' && typeof v.error.message === 'string';
}

export function isMessage(v: unknown): v is JsonRpcMessage {
  return isRequest(v) || isNotification(v) || isResponse(v);
}

export function errorResponse(id: JsonRpcId | null, code: number, message: string, data?: unknown): JsonRpcFailure {
  const error: JsonRpcErrorObject = data === undefined ? { code, message } : { code, message, data };
  return { jsonrpc: '2.0', id, error };
}

export function resultResponse(id: JsonRpcId, result: unknown): JsonRpcSuccess {
  return { jsonrpc: '2.0', id, result };
}

/** A stable map key for an id: 1 and "1" are different ids. */
export function idKey(id: JsonRpcId): string | number {
  return typeof id === 'number' ? id : `s:${id}`;
}

/** The progress token of a request, if it asked for progress. */
export function progressTokenOf(msg: { params?: Record<string, unknown> }): string | number | undefined {
  const meta = msg.params?._meta;
  if (!isObject(meta)) return undefined;
  const t = meta.progressToken;
  return typeof t === 'string' || typeof t === 'number' ? t : undefined;
}

/** Copy of a request's params with `_meta.progressToken` replaced. */
export function withProgressToken(params: Record<string, unknown>, token: string | number): Record<string, unknown> {
  const meta = params._meta as Record<string, unknown>;
  return { ...params, _meta: { ...meta, progressToken: token } };
}

/** JSON text of a message, or null when it cannot be serialised (nested deeper than the stack allows). */
export function serialize(msg: unknown): string | null {
  try {
    return JSON.stringify(msg);
  } catch {
    return null;
  }
}

/** The MCP server's answer (one stdout line) is longer than `maxLineBytes`; it was dropped unread. */
export const RESPONSE_TOO_LARGE = -32013;
