import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { Edge, edgeOptions, type EdgeOptions } from './edge.js';

const MiB = 1024 * 1024;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const base = (): EdgeOptions => ({
  ...edgeOptions(loadConfig({}), null),
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
});

interface Harness {
  port: number;
  warnings: string[];
  /** Responses of requests to /hold, which the test answers itself. */
  held: ServerResponse[];
}

/** A real HTTP server behind the edge: `/hold` is left unanswered for the test, anything else answered at once. */
async function serve(over: Partial<EdgeOptions>): Promise<Harness> {
  const warnings: string[] = [];
  const edge = new Edge({ ...base(), ...over }, { warn: (m) => warnings.push(m), deployment: () => {} });
  const held: ServerResponse[] = [];
  const server: Server = createServer(
    edge.serverOptions(),
    edge.handler((req, res) => {
      if (req.url === '/hold') held.push(res);
      else res.end('ok');
    }),
  );
  edge.attach(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        edge.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as AddressInfo).port, warnings, held };
}

interface Conn {
  socket: Socket;
  closed: boolean;
}

async function conn(port: number, localAddress = '127.0.0.1'): Promise<Conn> {
  const socket = connect({ port, host: '127.0.0.1', localAddress });
  const c: Conn = { socket, closed: false };
  socket.on('close', () => (c.closed = true));
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  cleanups.push(() => void socket.destroy());
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Edge: connection caps', () => {
  it('closes connections over the per-address cap at once, logs it once, and lets other addresses in', async () => {
    const h = await serve({ maxConnectionsPerAddress: 3 });
    const mine = await Promise.all(Array.from({ length: 6 }, () => conn(h.port)));
    const other = await conn(h.port, '127.0.0.2');
    await sleep(200);
    expect(mine.filter((c) => c.closed)).toHaveLength(3);
    expect(other.closed).toBe(false);
    expect(h.warnings).toHaveLength(1);
    expect(h.warnings[0]).toMatch(/connection from 127\.0\.0\.1 closed at once: over the cap of 3 connections per address/);
    // A closed connection makes room again.
    mine.filter((c) => !c.closed)[0]!.socket.destroy();
    await sleep(100);
    const again = await conn(h.port);
    await sleep(100);
    expect(again.closed).toBe(false);
  });

  it("closes connections over Berth's total cap at once", async () => {
    const h = await serve({ maxConnections: 4 });
    const all = [];
    for (let i = 0; i < 6; i++) all.push(await conn(h.port, `127.0.0.${10 + i}`));
    await sleep(200);
    expect(all.filter((c) => c.closed)).toHaveLength(2);
    expect(h.warnings.join('\n')).toMatch(/over Berth's cap of 4 open connections/);
  });
});

describe('Edge: idle timeout', () => {
  it('closes a connection on which nothing moves', async () => {
    const h = await serve({ idleTimeoutMs: 300 });
    const c = await conn(h.port);
    await sleep(700);
    expect(c.closed).toBe(true);
  });

  it('keeps a connection whose answer Berth is still working on', async () => {
    const h = await serve({ idleTimeoutMs: 300 });
    const c = await conn(h.port);
    c.socket.write('GET /hold HTTP/1.1\r\nhost: x\r\n\r\n');
    await sleep(900);
    expect(c.closed).toBe(false);
    h.held[0]!.end('late');
    const answer = await new Promise<string>((r) => c.socket.once('data', (d: Buffer) => r(d.toString())));
    expect(answer).toMatch(/late$/);
  });

  it('closes a connection whose client has stopped reading what Berth sends', async () => {
    const h = await serve({ idleTimeoutMs: 300, outbound: { maxPendingBytes: 512 * MiB, drainTimeoutMs: 60_000, budgetBytes: 1024 * MiB } });
    const c = await conn(h.port);
    c.socket.pause();
    c.socket.write('GET /hold HTTP/1.1\r\nhost: x\r\n\r\n');
    while (h.held.length === 0) await sleep(10);
    h.held[0]!.write('x'.repeat(32 * MiB));
    await sleep(1_000);
    expect(h.held[0]!.destroyed).toBe(true);
  });
});

describe('Edge: options and the API rate', () => {
  it('derives the total connection cap from the open-file limit unless configured', () => {
    const c = loadConfig({});
    expect(edgeOptions(c, null).maxConnections).toBe(8192);
    expect(edgeOptions(c, 1_000_000).maxConnections).toBe(8192);
    expect(edgeOptions(c, 1024).maxConnections).toBe(768);
    expect(edgeOptions(loadConfig({ BERTH_MAX_CONNECTIONS: '100' }), 1024).maxConnections).toBe(100);
  });

  it('refuses API requests of a principal over its rate with RATE_LIMITED, others not', () => {
    const edge = new Edge({ ...base(), rates: { token: { perSecond: 1, burst: 2 }, deployment: { perSecond: 1, burst: 1 } } }, { warn: () => {}, deployment: () => {} });
    cleanups.push(() => edge.close());
    const api = (principal: string): unknown => {
      try {
        edge.rates.api.check(principal, 'this token');
        return null;
      } catch (err) {
        return err;
      }
    };
    expect(api('a')).toBeNull();
    expect(api('a')).toBeNull();
    expect(api('a')).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect(api('b')).toBeNull();
  });
});
