// Abuse, reproduced against a real Berth from dist/: thousands of connections send a request body a byte at a time
// (or their headers). Before, nothing ever timed them out (`requestTimeout: 0`): file descriptors ran out and
// /healthz was refused. Now a client address has at most BERTH_MAX_CONNECTIONS_PER_ADDRESS connections (more are
// closed at once, logged without flooding), and a request must arrive whole within BERTH_BODY_TIMEOUT_S (headers
// within BERTH_HEADERS_TIMEOUT_S). Berth's open-file limit is lowered to 1024 for the test, so the review's
// 20,000 connections become 1,000 of the same shape.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { httpCall, rawConnect, requestHead, type RawConn } from '../support/raw-http.js';

const ATTACKERS = 1_000;
const PER_ADDRESS = 400;
const BODY_TIMEOUT_S = 6;
const HEADERS_TIMEOUT_S = 2;
const FD_LIMIT = 1024;

let berth: BerthProcess;
beforeAll(async () => {
  berth = await startBerth({
    env: { BERTH_MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS), BERTH_BODY_TIMEOUT_S: String(BODY_TIMEOUT_S), BERTH_HEADERS_TIMEOUT_S: String(HEADERS_TIMEOUT_S) },
  });
  execFileSync('prlimit', ['--pid', String(berth.proc.pid), `--nofile=${FD_LIMIT}:${FD_LIMIT}`]);
});
afterAll(async () => {
  await berth?.dispose();
});

const health = (): Promise<number> => httpCall(`${berth.url}/healthz`, { localAddress: '127.0.0.2', timeoutMs: 2_000, headers: berth.authHeaders() }).then((r) => r.status);

describe('connections that send their request a byte at a time', () => {
  it('are capped per address and timed out, and /healthz keeps answering another address', async () => {
    expect(await health()).toBe(200);
    const auth = berth.authHeaders();
    const t0 = Date.now();
    const conns: RawConn[] = [];
    const open = async (n: number, localAddress: string, head: (c: RawConn) => void): Promise<void> => {
      for (let i = 0; i < n; i += 50) {
        const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => rawConnect(berth.port, localAddress).catch(() => null)));
        for (const c of batch) {
          if (!c) continue;
          conns.push(c);
          head(c);
        }
      }
    };
    // Bodies a byte at a time, from 127.0.0.1.
    const bodyHead = requestHead('POST', '/s/slow-aaaaaaaaaaaa/mcp', berth.port, { 'content-type': 'application/json', 'content-length': '100000', ...auth });
    await open(ATTACKERS, '127.0.0.1', (c) => c.socket.write(`${bodyHead}{`));
    // Headers a byte at a time, from 127.0.0.3.
    const slowHeaders: RawConn[] = [];
    const tHeaders = Date.now();
    await open(20, '127.0.0.3', (c) => {
      slowHeaders.push(c);
      c.socket.write('POST /s/slow-aaaaaaaaaaaa/mcp HTTP/1.1\r\nx-slow: ');
    });
    const trickle = setInterval(() => {
      for (const c of conns) if (c.closedAt === null) c.socket.write('a');
    }, 500);
    try {
      await new Promise((r) => setTimeout(r, 1_000));
      const closedEarly = conns.filter((c) => c.closedAt !== null && c.closedAt - t0 < BODY_TIMEOUT_S * 1000).length;
      // Over the per-address cap: closed at once.
      expect(closedEarly).toBeGreaterThanOrEqual(ATTACKERS - PER_ADDRESS);
      // Meanwhile another address is served.
      const tHealth = Date.now();
      expect(await health()).toBe(200);
      expect(Date.now() - tHealth).toBeLessThan(1_000);

      // Every slow request is timed out: headers after HEADERS_TIMEOUT_S, bodies after BODY_TIMEOUT_S (node checks
      // every quarter of the shorter one).
      const deadline = t0 + (BODY_TIMEOUT_S + 4) * 1000;
      while (conns.some((c) => c.closedAt === null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const open = conns.filter((c) => c.closedAt === null).length;
      expect(open).toBe(0);
      // Slow headers went first, well before the body timeout (the machine is busy with 1,000 sockets: some slack).
      const headerCuts = slowHeaders.map((c) => c.closedAt! - tHeaders);
      expect(Math.min(...headerCuts)).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_S * 1000 - 100);
      expect(Math.max(...headerCuts)).toBeLessThan(HEADERS_TIMEOUT_S * 1000 + 2_500);
      // Slow bodies were cut at the body timeout, counted from their own connection: the ones over the cap were
      // closed right after they connected (opening 1,000 connections takes seconds on a busy machine, so the last
      // of those close seconds after t0).
      const bodyCuts = conns.filter((c) => !slowHeaders.includes(c) && c.closedAt! - c.openedAt > 1_500).map((c) => c.closedAt! - c.openedAt);
      expect(bodyCuts.length).toBeGreaterThanOrEqual(PER_ADDRESS - 1);
      expect(Math.min(...bodyCuts)).toBeGreaterThanOrEqual(BODY_TIMEOUT_S * 1000 - 100);
      expect(await health()).toBe(200);
    } finally {
      clearInterval(trickle);
      for (const c of conns) c.socket.destroy();
    }
    // Said in Berth's log, a few lines, not one per connection.
    const refusals = berth.output().split('\n').filter((l) => l.includes('closed at once'));
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.length).toBeLessThanOrEqual(3);
    expect(refusals[0]).toContain(`the cap of ${PER_ADDRESS} connections per address`);
    expect(refusals.join('\n')).toMatch(/and \d+ more like it|^[^\n]*$/);
  });
});
