// Abuse, reproduced against a real Berth from dist/: many connections each POST a 10 MB `echo` and never read the
// answer. Before the bounded writer, Berth held every unread answer (the review measured 4.7 GB of RSS at 300
// connections, 3.3 GB still held 16 minutes later). Now an answer that is not taken within
// BERTH_CLIENT_DRAIN_TIMEOUT_S (or that stalls while clients are BERTH_OUTBOUND_BUDGET_BYTES behind in total) is
// cut off, a server that cannot keep up with its stdin answers UPSTREAM_BUSY, and memory stays bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { MCP_HEADERS, MiB, drain, mcpCall, memoryOf, openSession, rawConnect, requestHead, type RawConn } from '../support/raw-http.js';
import { join } from 'node:path';
import { ROOT } from '../support/berth-process.js';
import type { CreateDeploymentInput } from '../../src/core/index.js';

// Our raw fixture echoes a 10 MB line in milliseconds (the SDK servers refuse stdio messages over 10 MiB, and take
// seconds to read one near that), so Berth, not the server, is what this measures.
const echoServer = (name: string): CreateDeploymentInput => ({ name, spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'src/mcp/testing/mcp-flood-server.mjs')], env: {}, cwd: ROOT } });
const CONNECTIONS = 24;
const TEXT_BYTES = 10 * 1024 * 1024;
/**
 * Berth's RSS may grow this much under the attack. Without the bounds it grew by about 60 MB per connection
 * (1.4 GB for these 24, all of it held until the clients went away). With them it is what the budgets allow
 * (a big request makes about six copies of itself on its way: 24 MiB of bodies, 64 MiB of answers, one 10 MB
 * answer on its way from the server) plus what the allocator keeps: about 300-400 MiB, however many connections.
 */
const GROWTH_BOUND = 600 * MiB;

let berth: BerthProcess;
let api: TestApi;
beforeAll(async () => {
  // Small budgets, so the bound is easy to see: at most 24 MiB of bodies on their way in, 64 MiB of answers on their way out.
  berth = await startBerth({ env: { BERTH_CLIENT_DRAIN_TIMEOUT_S: '3', BERTH_OUTBOUND_BUDGET_BYTES: String(64 * MiB), BERTH_BODY_BUDGET_BYTES: String(24 * MiB) } });
  api = new TestApi(berth.url, berth.token);
});
afterAll(async () => {
  await berth?.dispose();
});

/** What an attack connection got: its status, and whether the whole answer Berth announced arrived. */
function verdict(got: { bytes: number; text: string }): { status: number; complete: boolean; code: string | null } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(got.text)?.[1] ?? 0);
  const headEnd = got.text.indexOf('\r\n\r\n');
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(got.text)?.[1] ?? NaN);
  const complete = headEnd !== -1 && Number.isFinite(length) && got.bytes >= headEnd + 4 + length;
  const code = /"code":"([A-Z_]+)"/.exec(got.text)?.[1] ?? null;
  return { status, complete, code };
}

describe('connections that POST a 10 MB echo and never read the answer', () => {
  it('are cut off or told the server is busy; Berth memory stays bounded and Berth keeps serving', async () => {
    const d = await api.deploy(echoServer('big-echo'));
    await api.waitFor(d.id);
    const auth = berth.authHeaders();
    const sid = await openSession(d.endpoint, auth);
    const path = new URL(d.endpoint).pathname;
    const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: 'e'.repeat(TEXT_BYTES) } } }));

    const pid = berth.proc.pid!;
    const before = memoryOf(pid).rss;
    const conns: RawConn[] = [];
    for (let i = 0; i < CONNECTIONS; i++) {
      const c = await rawConnect(berth.port);
      c.socket.pause(); // never read
      c.socket.write(requestHead('POST', path, berth.port, { ...MCP_HEADERS, ...auth, 'mcp-session-id': sid, 'content-length': String(body.length) }));
      c.socket.write(body);
      conns.push(c);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Long enough for the server to echo what it accepted and for unread answers to pass the drain timeout.
    await new Promise((r) => setTimeout(r, 12_000));
    // VmHWM: the highest RSS Berth ever had, brief peaks included (before the attack it was about `before`).
    const peak = memoryOf(pid).hwm;

    const verdicts = [];
    for (const c of conns) verdicts.push(verdict(await drain(c, TEXT_BYTES, 5_000)));
    const growth = peak - before;
    const summary = verdicts.map((v) => `${v.status}${v.complete ? '' : '/cut'}${v.code ? `/${v.code}` : ''}`).join(' ');
    console.log(`big echo: ${CONNECTIONS} × ${TEXT_BYTES} bytes; Berth RSS ${(before / MiB).toFixed(0)} MiB before, VmHWM ${(peak / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(0)} MiB); answers: ${summary}`);
    // No connection got a whole 10 MB answer it never read: each was cut off, or refused with a stable code.
    for (const v of verdicts) {
      if (v.complete) expect(['UPSTREAM_BUSY', 'SERVER_BUSY', 'RATE_LIMITED']).toContain(v.code);
    }
    expect(verdicts.some((v) => !v.complete)).toBe(true);
    expect(growth).toBeLessThan(GROWTH_BOUND);

    // Berth is still fine: a normal client gets its (small) echo.
    const ok = await mcpCall(d.endpoint, auth, sid, { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'echo', arguments: { text: 'still here' } } });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('still here');
    for (const c of conns) c.socket.destroy();
  });
});
