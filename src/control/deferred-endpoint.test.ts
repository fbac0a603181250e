import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/index.js';
import { DeferredEndpoint } from './deferred-endpoint.js';
import type { ManagedEndpoint } from './reconciler.js';

function fakeEndpoint(log: string[]): ManagedEndpoint {
  return {
    start: async () => void log.push('start'),
    handle: async (_req, res) => void res.end('inner'),
    probe: async () => ({ tools: [{ name: 'echo' }] }),
    stats: () => ({ sessions: 1, processes: 1, inFlight: 0 }),
    close: async () => void log.push('close'),
  };
}

describe('DeferredEndpoint', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('builds the real endpoint at start, then delegates to it', async () => {
    const log: string[] = [];
    const e = new DeferredEndpoint(async () => fakeEndpoint(log));
    expect(e.stats()).toStrictEqual({ sessions: 0, processes: 0, inFlight: 0 });
    await expect(e.probe(100)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    await e.start();
    expect(await e.probe(100)).toStrictEqual({ tools: [{ name: 'echo' }] });
    expect(e.stats().sessions).toBe(1);
    await e.close();
    expect(log).toStrictEqual(['start', 'close']);
  });

  it('fails the start with what the preparation threw (a missing secret), and answers requests with a JSON-RPC 503 meanwhile', async () => {
    const e = new DeferredEndpoint(async () => {
      throw new BerthError('SECRET_NOT_FOUND', 'spec.env.G needs secret_ref:global:G, which does not exist');
    });
    await expect(e.start()).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
    server = createServer((req, res) => void e.handle(req, res, Buffer.alloc(0)));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      request({ host: '127.0.0.1', port, method: 'POST', path: '/' }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
        .on('error', reject)
        .end();
    });
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body)).toMatchObject({ jsonrpc: '2.0', error: { data: { code: 'UPSTREAM_UNAVAILABLE' } } });
  });

  it('closes an endpoint that was still being prepared when it was closed', async () => {
    const log: string[] = [];
    let release!: () => void;
    const e = new DeferredEndpoint(async () => {
      await new Promise<void>((r) => (release = r));
      return fakeEndpoint(log);
    });
    const starting = e.start();
    await new Promise((r) => setTimeout(r, 10));
    await e.close();
    release();
    await expect(starting).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(log).toStrictEqual(['close']);
  });
});
