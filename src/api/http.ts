import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError, toBerthError } from '../core/errors.js';
import { retryAfterHeader } from '../core/http.js';
import { readBody } from '../core/http-body.js';
import { isJsonContentType } from '../mcp/wire/http.js';

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const e = toBerthError(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [k, v] of Object.entries(retryAfterHeader(e))) res.setHeader(k, v);
  sendJson(res, e.status, e.toJSON());
}

/**
 * Parse a JSON request body (empty body → undefined). Only `application/json` (parameters such as
 * charset allowed) is taken: a browser can send text/plain or form bodies across origins without asking,
 * so any other type, or none, is refused with 415 before the body is read.
 */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'];
  const declared = Number(req.headers['content-length'] ?? 0);
  const hasBody = req.headers['transfer-encoding'] !== undefined || declared > 0;
  if (hasBody && !isJsonContentType(type)) {
    req.resume();
    throw new BerthError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json${type ? `, not ${JSON.stringify(type.slice(0, 80))}` : ''}`);
  }
  const buf = await readBody(req, limit);
  if (buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    // V8 quotes a piece of the text in its message; the body may carry secret values, so say only where.
    const at = /position (\d+)/.exec((err as Error).message);
    throw new BerthError('INVALID_JSON', `The body is not valid JSON${at ? ` (at position ${at[1]})` : ''}`);
  }
}
