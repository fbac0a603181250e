import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createIsolatedBridge } from './isolated.js';
import type { IsolatedBridge, IsolatedBridgeOptions } from '../types.js';
import { alive, ECHO_SERVER, FAST_RESTART, LIMITS, nodeSpawner, serveEndpoint, textOf, waitFor } from '../testing/helpers.js';
import type { HttpFront, NodeSpawner } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  bridge: IsolatedBridge;
  front: HttpFront;
  spawner: NodeSpawner;
  events: string[];
}

async function setup(over: Partial<IsolatedBridgeOptions>, env: Record<string, string> = {}): Promise<Harness> {
  const spawner = nodeSpawner(ECHO_SERVER, [], env);
  const events: string[] = [];
  const bridge = createIsolatedBridge({
    deploymentId: 'pool',
    spawn: spawner.spawn,
    restart: FAST_RESTART,
    limits: LIMITS,
    isolated: { warm: 1, max: 8 },
    events: { onIdle: () => events.push('idle'), onWake: () => events.push('wake') },
    ...over,
  });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { bridge, front, spawner, events };
}

async function open(url: string, capabilities: Record<string, unknown> = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'pool-test', version: '1.0.0' }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport };
}

const whoami = async (c: Client): Promise<number> => Number(textOf(await c.callTool({ name: 'whoami', arguments: {} })));
const warmCount = (h: Harness): number => h.bridge.stats().processes - h.bridge.stats().sessions;

describe('isolated bridge: the adaptive warm pool', () => {
  it('grows to the size of a burst of opens and serves the next burst from warm processes', async () => {
    const h = await setup({ isolated: { warm: 1, max: 16, maxWarm: 8 }, timing: { poolQuietMs: 60_000 } });
    const first = await Promise.all(Array.from({ length: 6 }, () => open(h.front.url)));
    const pids = await Promise.all(first.map((s) => whoami(s.client)));
    expect(new Set(pids).size).toBe(6);
    // The pool now holds what the burst took (ready for the next one), beside the 6 in use.
    await waitFor(() => warmCount(h) === 6, 20_000, 'the pool to grow to the burst');
    for (const s of first) await s.transport.terminateSession();
    await waitFor(() => h.bridge.stats().sessions === 0 && h.bridge.stats().processes === 6, 10_000, 'the sessions to end');
    // The first burst's processes are stopped; what is left alive is the pool.
    await waitFor(() => h.spawner.procs.filter((p) => alive(p.pid)).length === 6, 10_000, 'the ended sessions\' processes to exit');
    const waiting = new Set(h.spawner.procs.filter((p) => alive(p.pid)).map((p) => p.pid));
    const second = await Promise.all(Array.from({ length: 6 }, () => open(h.front.url)));
    const taken = await Promise.all(second.map((s) => whoami(s.client)));
    // Every open of the second burst took a process that was already waiting.
    expect(taken.filter((pid) => waiting.has(pid))).toHaveLength(6);
  });

  it('shrinks back to isolated.warm when the opens stop (the demand halves per quiet period)', async () => {
    const h = await setup({ isolated: { warm: 1, max: 16, maxWarm: 8 }, timing: { poolQuietMs: 500 } });
    let most = 0;
    const sample = setInterval(() => (most = Math.max(most, warmCount(h))), 5);
    cleanups.push(async () => clearInterval(sample));
    const burst = await Promise.all(Array.from({ length: 6 }, () => open(h.front.url)));
    await Promise.all(burst.map((s) => whoami(s.client)));
    for (const s of burst) await s.transport.terminateSession();
    await waitFor(() => most > 1, 10_000, 'the pool to grow past isolated.warm');
    await waitFor(() => h.bridge.stats().processes === 1 && h.bridge.stats().sessions === 0, 15_000, 'the pool to shrink back to isolated.warm');
  });

  it('gives an open that finds the pool empty the pool process already starting, not a second cold one', async () => {
    // maxWarm 1: the pool is one process; two opens back to back: the second waits for the refill.
    const h = await setup({ isolated: { warm: 1, max: 4, maxWarm: 1 } });
    const a = await open(h.front.url);
    const b = await open(h.front.url);
    const [pa, pb] = [await whoami(a.client), await whoami(b.client)];
    expect(pa).not.toBe(pb);
    // b's process was primed by the pool (clientInfo berth), not started cold with b's own initialize.
    const info = JSON.parse(textOf(await b.client.callTool({ name: 'client_info', arguments: {} }))) as { clientInfo: { name: string } };
    expect(info.clientInfo.name).toBe('berth');
  });

  it('never counts more than isolated.max processes, warm and in use, with cold clients in the mix', async () => {
    const h = await setup({ isolated: { warm: 2, max: 5, maxWarm: 16 } });
    let most = 0;
    const sample = setInterval(() => (most = Math.max(most, h.bridge.stats().processes)), 2);
    cleanups.push(async () => clearInterval(sample));
    const opens = await Promise.allSettled([
      ...Array.from({ length: 4 }, () => open(h.front.url)),
      // Richer capabilities: a cold process, for which the pool must make room.
      ...Array.from({ length: 3 }, () => open(h.front.url, { experimental: { x: {} } })),
    ]);
    // At the limit an idle session makes room once (transport admission), so some clients lose theirs (404)
    // and others are refused (503): what matters here is the count.
    expect(opens.filter((o) => o.status === 'fulfilled').length).toBeGreaterThanOrEqual(4);
    expect(h.bridge.stats().sessions).toBeLessThanOrEqual(5);
    await new Promise((r) => setTimeout(r, 300));
    clearInterval(sample);
    expect(most).toBeLessThanOrEqual(5);
    expect(h.bridge.stats().processes).toBeLessThanOrEqual(5);
  });
});

describe('isolated bridge: scale to zero (BridgeOptions.scale)', () => {
  it('stops the pool after idleMs without a session (onIdle), and the next open wakes it (onWake)', async () => {
    const h = await setup({ isolated: { warm: 1, max: 4 }, scale: { idleMs: 300 } });
    const a = await open(h.front.url);
    await whoami(a.client);
    expect(h.bridge.stats().idleAt).toBeNull();
    await a.transport.terminateSession();
    await waitFor(() => h.bridge.stats().sessions === 0, 5000, 'the session to end');
    expect(h.bridge.stats().idleAt).toBeGreaterThan(Date.now() - 1);
    await waitFor(() => h.events.includes('idle'), 5000, 'onIdle');
    await waitFor(() => h.bridge.stats().processes === 0, 5000, 'zero processes');
    expect(h.bridge.stats().idleAt).toBeNull();
    expect(h.bridge.stats().lastRequestAt).not.toBeNull();
    const b = await open(h.front.url);
    expect(textOf(await b.client.callTool({ name: 'echo', arguments: { text: 'awake' } }))).toBe('awake');
    expect(h.events).toEqual(['idle', 'wake']);
  });

  it('does not go idle while a session is open', async () => {
    const h = await setup({ isolated: { warm: 1, max: 4 }, scale: { idleMs: 200 } });
    const a = await open(h.front.url);
    await new Promise((r) => setTimeout(r, 600));
    expect(h.events).toEqual([]);
    expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'still' } }))).toBe('still');
  });
});

describe('isolated bridge: a server slower to start than the request timeout', () => {
  // A process's first answer includes the server's own start-up (a busy machine, a big runtime): the handshake
  // limit applies to it, not the request timeout. Before, each request's own timer (the request timeout) fired
  // first, the pool counted it a failed start and gave up after five: the deployment failed.
  const slow = { ECHO_STARTUP_DELAY_MS: '1500' };
  const limits = { ...LIMITS, requestTimeoutMs: 400 };

  it('fills the primed pool and serves a session', async () => {
    const h = await setup({ limits, isolated: { warm: 1, max: 4 } }, slow);
    const a = await open(h.front.url);
    expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'primed' } }))).toBe('primed');
  });

  it('answers a client initialize on a cold process (prime: false)', async () => {
    const h = await setup({ limits, isolated: { warm: 0, max: 4, prime: false } }, slow);
    const a = await open(h.front.url);
    expect(textOf(await a.client.callTool({ name: 'echo', arguments: { text: 'cold' } }))).toBe('cold');
  });
});
