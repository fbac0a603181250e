import type { ServerResponse } from 'node:http';
import type { BerthError } from '../core/errors.js';

/** JSON-RPC error code for a Berth error: parse and invalid-request keep their standard codes, the rest are server errors. */
export function jsonRpcCodeFor(err: BerthError): number {
  if (err.code === 'INVALID_JSON') return -32700;
  if (err.code === 'INVALID_JSONRPC') return -32600;
  return -32000;
}

/** Answer an MCP request that failed before reaching a server: JSON-RPC error body, the catalogue's HTTP status. */
export function sendJsonRpcError(res: ServerResponse, err: BerthError, id: string | number | null = null): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', id, error: { code: jsonRpcCodeFor(err), message: err.message, data: { code: err.code } } });
  res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
