// Abuse, reproduced against a real Berth from dist/: a server floods notifications while one client's SSE stream
// is never read. Before the bounded writer, Berth buffered the whole flood for that client until its heap ran out
// (about 40 s at full speed, every deployment down). Now the stuck stream is cut off once it falls
// BERTH_CLIENT_BUFFER_BYTES behind, the other clients keep receiving everything, and Berth's memory stays flat.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { ROOT, startBerth, type BerthProcess } from '../support/berth-process.js';
import { MiB, drain, httpCall, mcpCall, memoryOf, openSession, openStream, rawConnect, requestHead } from '../support/raw-http.js';
import { waitFor } from '../../src/mcp/testing/helpers.js';
import type { CreateDeploymentInput } from '../../src/core/index.js';

const FLOOD = join(ROOT, 'src/mcp/testing/mcp-flood-server.mjs');
const floodSpec = (name: string): CreateDeploymentInput => ({ name, spec: { type: 'process', command: process.execPath, args: [FLOOD], env: {}, cwd: ROOT } });

// 10 s at 16 MB/s: 160 MB meant for the client that does not read. Berth may hold 1 MiB of it (plus what the kernel takes).
const FLOOD_MS = 10_000;
const RATE = 8_000;
const SIZE = 2_000;
/** Berth's RSS may grow this much during the flood (it serves the reading client at full speed meanwhile). */
const GROWTH_BOUND = 64 * MiB;

let berth: BerthProcess;
let api: TestApi;
beforeAll(async () => {
  berth = await startBerth({ env: { BERTH_CLIENT_BUFFER_BYTES: String(MiB), BERTH_CLIENT_DRAIN_TIMEOUT_S: '30' } });
  api = new TestApi(berth.url, berth.token);
});
afterAll(async () => {
  await berth?.dispose();
});

/** A GET stream that reads everything and counts the notifications in it. */
async function readingStream(endpoint: string, sid: string): Promise<{ count: () => number; open: () => boolean; close(): void }> {
  const { res, close } = await openStream(endpoint, sid, berth.authHeaders());
  let count = 0;
  let open = true;
  let carry = '';
  res.setEncoding('latin1');
  res.on('data', (chunk: string) => {
    const s = carry + chunk;
    let at = 0;
    while ((at = s.indexOf('notifications/message', at)) !== -1) {
      count++;
      at += 21;
    }
    carry = s.slice(-20);
  });
  res.on('close', () => (open = false));
  return { count: () => count, open: () => open, close };
}

describe('a notification flood with one SSE client that never reads', () => {
  it('cuts the stuck client off, keeps serving the reading one, and keeps memory bounded', async () => {
    const d = await api.deploy(floodSpec('flood'));
    await api.waitFor(d.id);
    const auth = berth.authHeaders();

    const reader = await readingStream(d.endpoint, await openSession(d.endpoint, auth));
    const stuckSid = await openSession(d.endpoint, auth);
    const stuck = await rawConnect(berth.port);
    stuck.socket.write(requestHead('GET', new URL(d.endpoint).pathname, berth.port, { accept: 'text/event-stream', 'mcp-session-id': stuckSid, ...auth }));
    stuck.socket.pause(); // never read: the kernel's buffers fill, then Berth's

    const pid = berth.proc.pid!;
    const before = memoryOf(pid).rss;
    const flood = await mcpCall(d.endpoint, auth, stuckSid, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'flood', arguments: { rate: RATE, size: SIZE, ms: FLOOD_MS } } });
    expect(flood.status).toBe(200);
    await new Promise((r) => setTimeout(r, FLOOD_MS + 500));

    // The reading client got every notification the server sent (it was never slowed down or cut).
    const stats = await mcpCall(d.endpoint, auth, stuckSid, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'stats', arguments: {} } });
    const sent = (JSON.parse(JSON.parse(stats.text).result.content[0].text) as { sent: number }).sent;
    expect(sent).toBeGreaterThan((RATE * FLOOD_MS) / 1000 / 2);
    await waitFor(() => reader.count() >= sent, 15_000, `the reading client to get all ${sent} notifications (has ${reader.count()})`);
    expect(reader.open()).toBe(true);
    // VmHWM: the highest RSS Berth ever had, brief peaks included (before the attack it was about `before`).
    const peak = memoryOf(pid).hwm;
    reader.close();

    // The stuck stream was cut: what the client can still read is what the kernel held plus at most the cap.
    const left = await drain(stuck, 32 * MiB, 10_000);
    const growth = peak - before;
    console.log(`flood: ${sent} notifications of ${SIZE} bytes; Berth RSS ${(before / MiB).toFixed(0)} MiB before, VmHWM ${(peak / MiB).toFixed(0)} MiB (+${(growth / MiB).toFixed(0)} MiB); the stuck client could still read ${(left.bytes / MiB).toFixed(1)} MiB${left.ended ? ', then its stream ended' : ''}`);
    expect(left.ended).toBe(true);
    expect(left.bytes).toBeLessThan(16 * MiB);
    expect(growth).toBeLessThan(GROWTH_BOUND);

    const logs = await api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${d.id}/logs?tail=200`);
    const cut = logs.body.items.map((e) => e.line).filter((l) => /cut off/.test(l));
    expect(cut.length).toBeGreaterThan(0);
    expect(cut.join('\n')).toContain(d.id);
    expect(cut.join('\n')).not.toContain(stuckSid);
    expect((await httpCall(`${berth.url}/healthz`, { headers: auth })).status).toBe(200);
  });
});
