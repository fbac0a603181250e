import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthError } from './errors.js';
import { BodyBudget, readBody, releaseBody } from './http-body.js';

const KiB = 1024;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real server that reads each body with readBody (under `budget`) and answers its size, or the error's code. */
async function serve(budget: BodyBudget, limit = 16 * 1024 * KiB): Promise<{ url: string; started: () => number }> {
  let started = 0;
  const server: Server = createServer((req, res) => {
    started++;
    budget.attach(req);
    readBody(req, limit).then(
      (b) => res.end(String(b.length)),
      (err: unknown) => {
        const e = err instanceof BerthError ? err : new BerthError('INTERNAL');
        res.writeHead(e.status, { connection: 'close' }).end(e.code);
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, started: () => started };
}

interface Upload {
  /** Write more of the body (or end it). */
  write(data: Buffer): void;
  end(): void;
  abort(): void;
  answer: Promise<{ status: number; text: string }>;
}

function upload(url: string, headers: Record<string, string>): Upload {
  const req = request(url, { method: 'POST', headers, agent: false });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
  });
  return { write: (d) => void req.write(d), end: () => void req.end(), abort: () => void req.destroy(), answer };
}

const waitUntil = async (cond: () => boolean): Promise<void> => {
  const end = Date.now() + 5_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('readBody with a BodyBudget (request bodies being read, across connections)', () => {
  it('counts a declared body whole from the start, refuses another that does not fit with SERVER_BUSY, and frees the room once read', async () => {
    const budget = new BodyBudget(1024 * KiB);
    const s = await serve(budget);
    const first = upload(s.url, { 'content-length': String(600 * KiB) });
    first.write(Buffer.alloc(10 * KiB)); // slow: most of its body is still to come
    await waitUntil(() => budget.inUse === 600 * KiB);
    const second = upload(s.url, { 'content-length': String(600 * KiB) });
    second.end();
    expect(await second.answer).toEqual({ status: 503, text: 'SERVER_BUSY' });
    first.write(Buffer.alloc(590 * KiB));
    first.end();
    expect(await first.answer).toEqual({ status: 200, text: String(600 * KiB) });
    expect(budget.inUse).toBe(0);
    const third = upload(s.url, { 'content-length': String(600 * KiB) });
    third.write(Buffer.alloc(600 * KiB));
    third.end();
    expect(await third.answer).toEqual({ status: 200, text: String(600 * KiB) });
  });

  it('counts a chunked body as it arrives and stops reading it when the budget is out', async () => {
    const budget = new BodyBudget(256 * KiB);
    const s = await serve(budget);
    const up = upload(s.url, { 'transfer-encoding': 'chunked' });
    for (let i = 0; i < 8; i++) up.write(Buffer.alloc(64 * KiB));
    up.end();
    expect(await up.answer).toEqual({ status: 503, text: 'SERVER_BUSY' });
    expect(budget.inUse).toBe(0);
  });

  it('gives the room back when the client goes away mid-body', async () => {
    const budget = new BodyBudget(1024 * KiB);
    const s = await serve(budget);
    const up = upload(s.url, { 'content-length': String(512 * KiB) });
    up.answer.catch(() => {});
    up.write(Buffer.alloc(KiB));
    await waitUntil(() => budget.inUse === 512 * KiB);
    up.abort();
    await waitUntil(() => budget.inUse === 0);
  });

  it('still refuses a body over the per-request limit with PAYLOAD_TOO_LARGE, without counting it', async () => {
    const budget = new BodyBudget(1024 * KiB);
    const s = await serve(budget, 100 * KiB);
    const up = upload(s.url, { 'content-length': String(200 * KiB) });
    up.write(Buffer.alloc(200 * KiB));
    up.end();
    expect(await up.answer).toEqual({ status: 413, text: 'PAYLOAD_TOO_LARGE' });
    expect(budget.inUse).toBe(0);
  });

  it('with hold, keeps a body counted after it was read until releaseBody (the gateway: until the endpoint took it)', async () => {
    const budget = new BodyBudget(1024 * KiB);
    let release = (): void => {};
    const server = createServer((req, res) => {
      budget.attach(req);
      void readBody(req, 1024 * KiB, { hold: true }).then((b) => {
        release = () => releaseBody(req);
        res.end(String(b.length));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method: 'POST', body: 'x'.repeat(300 * KiB) });
    expect(await r.text()).toBe(String(300 * KiB));
    expect(budget.inUse).toBe(300 * KiB);
    release();
    expect(budget.inUse).toBe(0);
    release();
    expect(budget.inUse).toBe(0);
  });

  it('reads without a budget when none is attached (unit callers, tests)', async () => {
    const server = createServer((req, res) => void readBody(req, 1024).then((b) => res.end(b.toString())));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const r = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method: 'POST', body: 'hello' });
    expect(await r.text()).toBe('hello');
  });
});
