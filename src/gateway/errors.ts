import type { ServerResponse } from 'node:http';
import type { BerthError } from '../core/errors.js';
import { sendRpcError } from '../mcp/http.js';
import { INVALID_REQUEST, PARSE_ERROR } from '../mcp/jsonrpc.js';

/** JSON-RPC error code for a Berth error: parse and invalid-request keep their standard codes, the rest are server errors. */
export function jsonRpcCodeFor(err: BerthError): number {
  if (err.code === 'INVALID_JSON') return PARSE_ERROR;
  if (err.code === 'INVALID_JSONRPC') return INVALID_REQUEST;
  return -32000;
}

/** Answer an MCP request that failed before reaching a server: JSON-RPC error with the stable code in `data.code`. */
export function sendJsonRpcError(res: ServerResponse, err: BerthError): void {
  sendRpcError(res, err.status, jsonRpcCodeFor(err), err.message, {}, { code: err.code });
}
