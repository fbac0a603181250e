import type { IncomingMessage } from 'node:http';
import { BerthError } from '../core/errors.js';

/**
 * Read a request body into one Buffer, refusing more than `limit` bytes
 * (checked against Content-Length first, then while reading).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (!failed) reject(err);
      failed = true;
    });
  });
}

function tooLarge(limit: number): BerthError {
  return new BerthError('PAYLOAD_TOO_LARGE', `Request body is larger than the limit of ${limit} bytes (BERTH_MAX_BODY_BYTES)`);
}
