import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startListening } from './procs.js';

describe('bench TCP relay (the Node.js floor reference)', () => {
  let upstream: Server;
  let relay: Awaited<ReturnType<typeof startListening>>;
  let seen: string[] = [];

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url}`);
        res.setHeader('content-type', 'text/plain');
        // A body far larger than one socket read, sent back reversed: a relay that drops or reorders bytes fails.
        res.end(Buffer.concat(chunks).reverse());
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const { port } = upstream.address() as AddressInfo;
    relay = await startListening('tcp-relay', ['--import', 'tsx', join('bench', 'tcp-relay.ts'), `http://127.0.0.1:${port}/mcp`]);
  });

  afterAll(async () => {
    await relay?.stop();
    await new Promise((r) => upstream?.close(r));
  });

  it('carries requests and responses unchanged, several on one keep-alive connection', async () => {
    seen = [];
    const body = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    for (let round = 0; round < 3; round++) {
      const res = await fetch(`http://127.0.0.1:${relay.port}/any/path?q=${round}`, { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(200);
      const back = Buffer.from(await res.arrayBuffer());
      expect(back.equals(Buffer.from(body).reverse())).toBe(true);
    }
    expect(seen).toEqual(['POST /any/path?q=0', 'POST /any/path?q=1', 'POST /any/path?q=2']);
  });
});
