// Abuse, reproduced against a real Berth from dist/: abandoned sessions fill a deployment's session cap. Before, the
// cap (BERTH_MAX_SESSIONS, 1,000 by default) then locked every new client out until the abandoned sessions expired
// (30 minutes). Now a new session takes the place of the least recently used idle one; a client address (and a
// token) at its own cap pushes out only its own idle sessions; and a new session is refused only when nothing is idle.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { MCP_HEADERS, httpCall, mcpCall, openSession, openStream } from '../support/raw-http.js';
import { echoSpec } from '../support/servers.js';

const MAX = 12;
const PER_ADDRESS = 8;

let berth: BerthProcess;
let api: TestApi;
beforeAll(async () => {
  // Every client of the test sends the same token: its own cap is the deployment's, so the address cap is what this shows.
  // Sessions idle for a second may be evicted (30 s by default).
  berth = await startBerth({ env: { BERTH_MAX_SESSIONS: String(MAX), BERTH_MAX_SESSIONS_PER_ADDRESS: String(PER_ADDRESS), BERTH_MAX_SESSIONS_PER_TOKEN: String(MAX), BERTH_SESSION_EVICT_AFTER_S: '1' } });
  api = new TestApi(berth.url, berth.token);
});
afterAll(async () => {
  await berth?.dispose();
});

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const ping = async (endpoint: string, sid: string, from: string): Promise<number> =>
  (await mcpCall(endpoint, berth.authHeaders(), sid, { jsonrpc: '2.0', id: 1, method: 'ping' }, from)).status;

/** A GET stream held open (and read) on a session: the session is not idle while it is open. */
async function holdStream(endpoint: string, sid: string, localAddress: string): Promise<() => void> {
  const { res, close } = await openStream(endpoint, sid, berth.authHeaders(), localAddress);
  res.resume();
  return close;
}

describe('abandoned sessions at the session cap', () => {
  it('make room for new clients: an address at its cap evicts its own idle sessions, a full deployment its least recently used one', async () => {
    const d = await api.deploy(echoSpec('lru'));
    await api.waitFor(d.id);
    const auth = berth.authHeaders();
    const stops: (() => void)[] = [];
    try {
      // A victim on 127.0.0.2: three idle sessions and one with its GET stream open.
      const victim = [];
      for (let i = 0; i < 4; i++) victim.push(await openSession(d.endpoint, auth, '127.0.0.2'));
      stops.push(await holdStream(d.endpoint, victim[3]!, '127.0.0.2'));
      // An abuser on 127.0.0.1 opens sessions and abandons them: 8 fill its address's cap (and the deployment's),
      // 6 more each push out its own least recently used one.
      const abandoned = [];
      for (let i = 0; i < PER_ADDRESS; i++) abandoned.push(await openSession(d.endpoint, auth, '127.0.0.1'));
      await pause(1_100);
      for (let i = 0; i < 6; i++) abandoned.push(await openSession(d.endpoint, auth, '127.0.0.1'));
      const abandonedStatus = [];
      for (const sid of abandoned) abandonedStatus.push(await ping(d.endpoint, sid, '127.0.0.1'));
      expect(abandonedStatus).toEqual([...Array<number>(6).fill(404), ...Array<number>(PER_ADDRESS).fill(200)]);
      for (const sid of victim) expect(await ping(d.endpoint, sid, '127.0.0.2')).toBe(200);

      // A newcomer on 127.0.0.3 finds the deployment full: the least recently used idle session anywhere makes room
      // (the abuser's oldest: the victim's were used after it).
      await pause(1_100);
      const newcomer = await openSession(d.endpoint, auth, '127.0.0.3');
      expect(await ping(d.endpoint, newcomer, '127.0.0.3')).toBe(200);
      expect(await ping(d.endpoint, abandoned[6]!, '127.0.0.1')).toBe(404);
      for (const sid of victim) expect(await ping(d.endpoint, sid, '127.0.0.2')).toBe(200);

      const logs = await api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${d.id}/logs?tail=100`);
      const evictions = logs.body.items.map((e) => e.line).filter((l) => l.includes('least recently used idle session'));
      expect(evictions.length).toBeGreaterThan(0);
      for (const sid of [...victim, ...abandoned, newcomer]) expect(evictions.join('\n')).not.toContain(sid);
    } finally {
      for (const stop of stops) stop();
    }
  });

  it('refuses a new session (503 TOO_MANY_SESSIONS) only when no session is idle', async () => {
    const d = await api.deploy(echoSpec('busy'));
    await api.waitFor(d.id);
    const auth = berth.authHeaders();
    const stops: (() => void)[] = [];
    try {
      for (let i = 0; i < MAX; i++) {
        const from = `127.0.0.${10 + (i % 3)}`;
        stops.push(await holdStream(d.endpoint, await openSession(d.endpoint, auth, from), from));
      }
      const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'late', version: '0' } } };
      const refused = await httpCall(d.endpoint, { method: 'POST', headers: { ...MCP_HEADERS, ...auth }, body: JSON.stringify(init), localAddress: '127.0.0.20' });
      expect(refused.status).toBe(503);
      expect(JSON.parse(refused.text)).toMatchObject({ error: { code: -32011, data: { code: 'TOO_MANY_SESSIONS' } } });
      expect(JSON.parse(refused.text).error.message).toMatch(/none of (them|its sessions) is idle/);
      // One stream closes: its session is idle again, and once it has been for BERTH_SESSION_EVICT_AFTER_S the next client gets in.
      stops.shift()!();
      await pause(1_200);
      expect((await httpCall(d.endpoint, { method: 'POST', headers: { ...MCP_HEADERS, ...auth }, body: JSON.stringify(init), localAddress: '127.0.0.20' })).status).toBe(200);
    } finally {
      for (const stop of stops) stop();
    }
  });
});
