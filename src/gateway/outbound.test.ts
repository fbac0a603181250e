import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboundGuard, type CutInfo, type OutboundLimits } from './outbound.js';

const MiB = 1024 * 1024;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  guard: OutboundGuard;
  cuts: CutInfo[];
  port: number;
  /** Responses the server made, in order. */
  responses: ServerResponse[];
}

/** A real HTTP server on 127.0.0.1 whose responses are the guard's; each request's response is handed to the test. */
async function serve(limits: Partial<OutboundLimits> = {}): Promise<Harness> {
  const cuts: CutInfo[] = [];
  const guard = new OutboundGuard({ maxPendingBytes: MiB, drainTimeoutMs: 10_000, budgetBytes: 256 * MiB, ...limits }, (c) => cuts.push(c));
  const responses: ServerResponse[] = [];
  const server: Server = createServer({ ServerResponse: guard.Response }, (req, res) => {
    guard.opened(res, req.socket);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    responses.push(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        guard.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { guard, cuts, port: (server.address() as AddressInfo).port, responses };
}

/** A client that sends a GET and then reads nothing (the kernel's buffers fill, then the server's). */
async function stuckClient(port: number): Promise<Socket> {
  const s = connect({ port, host: '127.0.0.1' });
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  s.write(`GET /s/x/mcp HTTP/1.1\r\nhost: x\r\n\r\n`);
  s.pause();
  cleanups.push(() => void s.destroy());
  return s;
}

async function nextResponse(h: Harness, n: number): Promise<ServerResponse> {
  while (h.responses.length < n) await new Promise((r) => setTimeout(r, 5));
  return h.responses[n - 1]!;
}

/** Writes `chunk` as fast as the loop allows until the response is gone or `max` bytes were written; the bytes written. */
async function writeUntilCut(res: ServerResponse, chunk: string, max: number): Promise<number> {
  let written = 0;
  while (!res.destroyed && written < max) {
    res.write(chunk);
    written += chunk.length;
    if (written % (64 * chunk.length) === 0) await new Promise((r) => setImmediate(r));
  }
  return written;
}

describe('OutboundGuard: bounded writes to clients', () => {
  it('cuts off a client that never reads once it is more than maxPendingBytes behind, naming its deployment', async () => {
    const h = await serve({ maxPendingBytes: MiB });
    await stuckClient(h.port);
    const res = await nextResponse(h, 1);
    h.guard.forDeployment(res, 'dep-1');
    const chunk = `data: ${'x'.repeat(4090)}\n\n`;
    const written = await writeUntilCut(res, chunk, 512 * MiB);
    expect(res.destroyed).toBe(true);
    expect(written).toBeLessThan(128 * MiB); // the kernel's buffers plus the cap, not the whole flood
    expect(h.cuts).toHaveLength(1);
    expect(h.cuts[0]).toMatchObject({ label: 'deployment dep-1', deploymentId: 'dep-1', reason: 'buffer' });
    expect(h.cuts[0]!.pendingBytes).toBeGreaterThan(MiB);
    // The cap, the largest message on its way, and the write that went over (with its chunked framing).
    expect(h.cuts[0]!.pendingBytes).toBeLessThanOrEqual(MiB + 2 * (chunk.length + 16));
    expect(h.guard.pendingBytes).toBe(0);
    // A writer that waits for its callback is told, as for a client that went away.
    const err = await new Promise<Error | null | undefined>((r) => res.write('more', r));
    expect(err).toBeInstanceOf(Error);
  });

  it('never cuts a client that reads, however much goes through, and lets one message larger than the cap through', async () => {
    const h = await serve({ maxPendingBytes: 256 * 1024, drainTimeoutMs: 2_000 });
    const s = connect({ port: h.port, host: '127.0.0.1' });
    cleanups.push(() => void s.destroy());
    let received = 0;
    s.on('data', (c: Buffer) => (received += c.length));
    await new Promise((r) => s.once('connect', r));
    s.write(`GET / HTTP/1.1\r\nhost: x\r\n\r\n`);
    const res = await nextResponse(h, 1);
    const big = 'y'.repeat(8 * MiB);
    expect(res.write(big)).toBe(false); // far over the cap: waits, but is not refused
    const chunk = 'z'.repeat(16 * 1024);
    let sent = big.length;
    for (let i = 0; i < 2_000; i++) {
      if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      sent += chunk.length;
    }
    res.end();
    await new Promise((r) => setTimeout(r, 100));
    while (received < sent) await new Promise((r) => setTimeout(r, 10));
    expect(h.cuts).toEqual([]);
    expect(res.writableFinished).toBe(true);
  });

  it('cuts off an answer that has not drained within drainTimeoutMs', async () => {
    const h = await serve({ maxPendingBytes: 64 * MiB, drainTimeoutMs: 300 });
    const client = await stuckClient(h.port);
    const res = await nextResponse(h, 1);
    res.end('a'.repeat(32 * MiB)); // one answer, more than the kernel takes
    expect(res.destroyed).toBe(false);
    const t0 = Date.now();
    while (!res.destroyed && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 20));
    expect(res.destroyed).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(h.cuts.map((c) => c.reason)).toEqual(['drain']);
    expect(h.cuts[0]!.label).toBe('GET /s/x/mcp');
    client.resume();
  });

  it('reports pressure above the budget, cuts the clients that make no progress, and reports its end', async () => {
    const h = await serve({ maxPendingBytes: 64 * MiB, drainTimeoutMs: 60_000, budgetBytes: 4 * MiB });
    const seen: boolean[] = [];
    h.guard.subscribe((high) => seen.push(high));
    await stuckClient(h.port);
    await stuckClient(h.port);
    const a = await nextResponse(h, 1);
    const b = await nextResponse(h, 2);
    a.end('a'.repeat(16 * MiB));
    b.end('b'.repeat(16 * MiB));
    expect(h.guard.high).toBe(true);
    expect(seen).toEqual([true]);
    const t0 = Date.now();
    while ((!a.destroyed || !b.destroyed) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(h.cuts.map((c) => c.reason)).toEqual(['pressure', 'pressure']);
    expect(h.guard.high).toBe(false);
    expect(seen).toEqual([true, false]);
  });

  it('knows the response in progress on a connection, until it finishes', async () => {
    const h = await serve();
    const client = await stuckClient(h.port);
    const res = await nextResponse(h, 1);
    expect(h.guard.responseOn(res.socket!)).toBe(res);
    const socket = res.socket!;
    res.end();
    client.resume();
    await new Promise((r) => setTimeout(r, 50));
    expect(h.guard.responseOn(socket)).toBeNull();
  });

  it('refuses limits that are not positive integers', () => {
    expect(() => new OutboundGuard({ maxPendingBytes: 0, drainTimeoutMs: 1, budgetBytes: 1 }, () => {})).toThrow(/maxPendingBytes/);
  });
});
