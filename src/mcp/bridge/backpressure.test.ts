import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { OutboundPressure } from '../types.js';
import { openGetStream, rawInitialize, rawPost, startSharedBridge, textOf, waitFor } from '../testing/helpers.js';
import type { SharedHarness } from '../testing/helpers.js';

const FLOOD_SERVER = fileURLToPath(new URL('../testing/mcp-flood-server.mjs', import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An OutboundPressure the test sets by hand (the gateway's OutboundGuard is the real one, see src/gateway/outbound.test.ts). */
class ManualPressure implements OutboundPressure {
  high = false;
  private readonly listeners = new Set<(high: boolean) => void>();
  subscribe(l: (high: boolean) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  set(high: boolean): void {
    this.high = high;
    for (const l of this.listeners) l(high);
  }
}

const setup = (over: { maxStdinBytes?: number; pressure?: OutboundPressure } = {}): Promise<SharedHarness> => startSharedBridge(FLOOD_SERVER, over, cleanups);

const tool = (id: number, name: string, args: Record<string, unknown> = {}): unknown => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

interface Answer {
  result?: unknown;
  error?: { code: number; message: string; data?: { code?: string } };
}

describe('a server that does not read its stdin', () => {
  it('gets at most maxStdinBytes (plus one message) queued; further requests are answered UPSTREAM_BUSY at once', async () => {
    const MAX = 256 * 1024;
    const { front, spawner, logs } = await setup({ maxStdinBytes: MAX });
    const sid = await rawInitialize(front.url);
    const stalled = await rawPost(front.url, tool(2, 'stall'), { 'mcp-session-id': sid });
    expect(textOf(((await stalled.json()) as Answer).result)).toBe('stalled');
    const big = 'b'.repeat(100 * 1024);
    const post = (id: number): Promise<Answer | null> =>
      rawPost(front.url, tool(id, 'echo', { text: big }), { 'mcp-session-id': sid }).then(
        (r) => r.json() as Promise<Answer>,
        () => null,
      );
    // The first ones fill the pipe and then the stdin buffer up to its cap (they wait for an answer that will not come).
    const first = Array.from({ length: 30 }, (_, i) => post(10 + i));
    await waitFor(() => spawner.procs[0]!.stdin.writableLength > MAX, 5_000, 'the stdin backlog');
    // From then on every request is answered at once.
    const t0 = Date.now();
    const busy = await Promise.all(Array.from({ length: 10 }, (_, i) => post(100 + i)));
    expect(Date.now() - t0).toBeLessThan(3_000);
    for (const a of busy) expect(a?.error).toMatchObject({ code: -32014, data: { code: 'UPSTREAM_BUSY' } });
    expect(busy[0]!.error!.message).toMatch(/not reading its input/);
    const settled = await Promise.all(first.map((p) => Promise.race([p, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 500))])));
    const waiting = settled.filter((a) => a === 'waiting').length;
    expect(waiting).toBeGreaterThan(0);
    expect(waiting).toBeLessThanOrEqual(Math.ceil((MAX + 64 * 1024) / big.length) + 1);
    expect(spawner.procs[0]!.stdin.writableLength).toBeLessThanOrEqual(MAX + big.length + 1024);
    expect(logs.filter((l) => l.includes('not reading its stdin'))).toHaveLength(1);
  }, 30_000);
});

describe('stdout back-pressure', () => {
  it("stops reading a server's stdout while Berth is behind on its clients (the server blocks on its writes), then reads on", async () => {
    const pressure = new ManualPressure();
    const { front } = await setup({ pressure });
    const sid = await rawInitialize(front.url);
    const stream = await openGetStream(front.url, sid);
    cleanups.push(async () => stream.close());
    const started = await rawPost(front.url, tool(2, 'flood', { rate: 4000, size: 500, ms: 4000 }), { 'mcp-session-id': sid });
    expect(textOf(((await started.json()) as Answer).result)).toBe('flooding');
    await waitFor(() => stream.messages.length > 400, 5_000, 'the flood to reach the client');

    pressure.set(true);
    await new Promise((r) => setTimeout(r, 300)); // what was already read drains
    const paused = stream.messages.length;
    await new Promise((r) => setTimeout(r, 1_000));
    expect(stream.messages.length - paused).toBeLessThan(20);

    pressure.set(false);
    await waitFor(() => stream.messages.length > paused + 400, 5_000, 'the flood to flow again');
    const stats = await rawPost(front.url, tool(3, 'stats'), { 'mcp-session-id': sid });
    const s = JSON.parse(textOf(((await stats.json()) as Answer).result)) as { blockedMs: number };
    // The server itself was held up: its stdout writes blocked while Berth did not read.
    expect(s.blockedMs).toBeGreaterThanOrEqual(800);
  });
});
