import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { readSourceMultipart } from './upload.js';

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? (server.closeAllConnections(), server.close(() => r())) : r())));

/** Posts `body` to a real HTTP server that reads it with readSourceMultipart; what it read, or the refusal's code. */
async function read(parts: string, type = 'multipart/form-data; boundary=B', opts: { maxBytes?: number; jsonLimit?: number } = {}): Promise<{ deployment?: unknown; zip?: string; code?: string }> {
  const seen: { deployment?: unknown; zip?: string; code?: string } = {};
  let handled!: () => void;
  const done = new Promise<void>((r) => (handled = r));
  server = createServer((req: IncomingMessage, res) => {
    readSourceMultipart(req, {
      maxBytes: opts.maxBytes ?? 1024,
      jsonLimit: opts.jsonLimit ?? 1024,
      store: async (zip) => {
        let text = '';
        for await (const c of zip) text += (c as Buffer).toString();
        if (text.length > (opts.maxBytes ?? 1024)) throw new BerthError('SOURCE_TOO_LARGE', 'too large');
        return text;
      },
    }).then(
      (r) => {
        seen.deployment = r.deployment;
        seen.zip = r.stored;
        handled();
        res.end('ok');
      },
      (err: unknown) => {
        seen.code = err instanceof BerthError ? err.code : String(err);
        handled();
        res.end('no');
      },
    );
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  // What the server read is the answer; the HTTP exchange may end either way (a refusal can answer before the
  // whole body is sent, and the client may then see the connection reset).
  // A connection of its own (agent: false): a pooled keep-alive socket to the previous test's server, which stops
  // listening but keeps its connections, could carry this request there when the new server got the same port.
  const sent = new Promise<void>((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', agent: false, headers: { 'content-type': type, 'content-length': Buffer.byteLength(parts) } }, (res) => {
      res.resume();
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', () => resolve());
    req.end(parts);
  });
  await done;
  await sent;
  return seen;
}

const field = (name: string, value: string): string => `--B\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
const file = (name: string, value: string): string => `--B\r\nContent-Disposition: form-data; name="${name}"; filename="s.zip"\r\nContent-Type: application/zip\r\n\r\n${value}\r\n`;
const END = '--B--\r\n';

describe('readSourceMultipart', () => {
  it('reads the deployment field and hands the source part to the store as it streams', async () => {
    expect(await read(field('deployment', '{"name":"x"}') + file('source', 'PKZIP') + END)).toStrictEqual({ deployment: { name: 'x' }, zip: 'PKZIP' });
    // The order of the parts does not matter.
    expect(await read(file('source', 'PK') + field('deployment', '{}') + END)).toStrictEqual({ deployment: {}, zip: 'PK' });
  });

  it.each([
    ['no source part', field('deployment', '{}') + END, 'VALIDATION_FAILED'],
    ['no deployment field', file('source', 'PK') + END, 'VALIDATION_FAILED'],
    ['an unknown field', field('other', '1') + file('source', 'PK') + END, 'VALIDATION_FAILED'],
    ['an unknown file part', file('upload', 'PK') + END, 'VALIDATION_FAILED'],
    ['two files', file('source', 'PK') + file('source', 'PK') + field('deployment', '{}') + END, 'VALIDATION_FAILED'],
    ['a deployment that is not JSON', field('deployment', '{nope') + file('source', 'PK') + END, 'INVALID_JSON'],
    ['a deployment field over its bound', field('deployment', `{"a":"${'x'.repeat(2000)}"}`) + file('source', 'PK') + END, 'PAYLOAD_TOO_LARGE'],
    ['a source over its bound', field('deployment', '{}') + file('source', 'x'.repeat(1500)) + END, 'SOURCE_TOO_LARGE'],
  ])('refuses %s', async (_what, body, code) => {
    expect((await read(body)).code).toBe(code);
  });
});
