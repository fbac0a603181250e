import { afterEach, describe, expect, it } from 'vitest';
import { createIsolatedBridge } from '../bridge/isolated.js';
import { createSharedBridge } from '../bridge/shared.js';
import type { ClientIdentity, McpEndpoint, SessionLimits } from '../types.js';
import { ECHO_SERVER, FAST_RESTART, LIMITS, nodeSpawner, openGetStream, rawPost, serveEndpoint, waitFor } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Front {
  url: string;
  logs: string[];
}

/** A bridge behind a front that names each request's client from test headers (the gateway does it from the token and the socket). */
async function setup(limits: Partial<SessionLimits>, mode: 'shared' | 'isolated' = 'shared'): Promise<Front> {
  const spawner = nodeSpawner(ECHO_SERVER);
  const logs: string[] = [];
  const opts = { deploymentId: 't', spawn: spawner.spawn, restart: FAST_RESTART, limits: { ...LIMITS, ...limits }, log: (l: string) => logs.push(l) };
  const bridge: McpEndpoint & { start(): Promise<void> } = mode === 'shared' ? createSharedBridge(opts) : createIsolatedBridge({ ...opts, isolated: { warm: 0, max: limits.maxSessions ?? 10 } });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const identify = (req: { headers: Record<string, string | string[] | undefined> }): ClientIdentity => ({
    principal: String(req.headers['x-principal'] ?? 'anonymous'),
    address: String(req.headers['x-address'] ?? '127.0.0.1'),
  });
  const front = await serveEndpoint(bridge, identify);
  cleanups.push(() => front.close());
  return { url: front.url, logs };
}

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '0' } } };

/** Opens a session as `who` ({principal, address}); returns its id, or the refusal's HTTP status and body. */
async function open(url: string, who: Partial<ClientIdentity> = {}): Promise<string> {
  const res = await rawPost(url, INIT, headersOf(who));
  const text = await res.text();
  const sid = res.headers.get('mcp-session-id');
  if (res.status !== 200 || !sid) throw new Error(`HTTP ${res.status} ${text}`);
  return sid;
}

const headersOf = (who: Partial<ClientIdentity>): Record<string, string> => ({ ...(who.principal ? { 'x-principal': who.principal } : {}), ...(who.address ? { 'x-address': who.address } : {}) });

/** A ping on a session: 200 while it lives, 404 once it was ended. */
async function ping(url: string, sid: string): Promise<number> {
  const res = await rawPost(url, { jsonrpc: '2.0', id: 9, method: 'ping' }, { 'mcp-session-id': sid });
  await res.text();
  return res.status;
}

describe('session admission: least recently used idle sessions make room', () => {
  for (const mode of ['shared', 'isolated'] as const) {
    it(`at the deployment's cap a new session evicts the least recently used idle one (${mode})`, async () => {
      const { url, logs } = await setup({ maxSessions: 3 }, mode);
      const [a, b, c] = [await open(url), await open(url), await open(url)];
      expect(await ping(url, a)).toBe(200); // a is used again: b is now the least recently used
      const d = await open(url);
      expect(await ping(url, b)).toBe(404);
      for (const sid of [a, c, d]) expect(await ping(url, sid)).toBe(200);
      expect(logs.some((l) => l.includes('ended the least recently used idle session'))).toBe(true);
      expect(logs.join('\n')).not.toContain(b);
    });
  }

  it('never evicts a session with a stream open or a request in flight; refuses with 503 when nothing is idle', async () => {
    const { url } = await setup({ maxSessions: 2 });
    const streaming = await open(url);
    const busy = await open(url);
    const stream = await openGetStream(url, streaming);
    cleanups.push(async () => stream.close());
    const slow = rawPost(url, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'slow', arguments: { ms: 1500, steps: 1 } } }, { 'mcp-session-id': busy });
    await new Promise((r) => setTimeout(r, 200));
    const refused = await rawPost(url, INIT);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: -32011, data: { code: 'TOO_MANY_SESSIONS' } } });
    expect(await (await slow).text()).toContain('slept 1500');
    // The slow call is over: its session is idle now, and makes room.
    const late = await open(url);
    expect(await ping(url, busy)).toBe(404);
    expect(await ping(url, streaming)).toBe(200);
    expect(await ping(url, late)).toBe(200);
  });

  for (const [kind, cap, victim, abuser, said] of [
    ['token', 'maxSessionsPerPrincipal', { principal: 'victim' }, { principal: 'abuser' }, 'this token already has 2 sessions'],
    ['address', 'maxSessionsPerAddress', { address: '10.0.0.1' }, { address: '10.0.0.2' }, 'this address already has 2 sessions'],
  ] as const) {
    it(`a${kind === 'address' ? 'n' : ''} ${kind} at its own cap evicts its own idle sessions, not another's older ones, and is refused when none is idle`, async () => {
      const { url } = await setup({ maxSessions: 10, [cap]: 2 });
      const other = await open(url, victim);
      const first = await open(url, abuser);
      const [second, third] = [await open(url, abuser), await open(url, abuser)];
      expect(await ping(url, first)).toBe(404);
      for (const sid of [other, second, third]) expect(await ping(url, sid)).toBe(200);
      const streams = await Promise.all([openGetStream(url, second), openGetStream(url, third)]);
      cleanups.push(async () => streams.forEach((s) => s.close()));
      const refused = await rawPost(url, INIT, headersOf(abuser));
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toContain(said);
      // Another owner still gets in.
      await open(url, victim);
    });
  }

  it('evicts only sessions idle for evictIdleAfterMs: a client pausing between calls keeps its session', async () => {
    const { url } = await setup({ maxSessions: 2, evictIdleAfterMs: 400 });
    const a = await open(url);
    const b = await open(url);
    const early = await rawPost(url, INIT);
    expect(early.status).toBe(503);
    await new Promise((r) => setTimeout(r, 450));
    expect(await ping(url, b)).toBe(200); // b is in use again; a has been idle long enough
    await open(url);
    expect(await ping(url, a)).toBe(404);
    expect(await ping(url, b)).toBe(200);
  });

  it('counts a session against its owner only while it lives', async () => {
    const { url } = await setup({ maxSessions: 10, maxSessionsPerPrincipal: 1 });
    const first = await open(url, { principal: 'p' });
    const del = await rawPost(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': first });
    await del.text();
    await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': first } });
    const stream = await openGetStream(url, await open(url, { principal: 'p' }));
    cleanups.push(async () => stream.close());
    await waitFor(() => stream.status === 200, 1000, 'stream');
    // The deleted session no longer counts; the one with a stream is not idle: a third is refused.
    const refused = await rawPost(url, INIT, headersOf({ principal: 'p' }));
    expect(refused.status).toBe(503);
  });
});
