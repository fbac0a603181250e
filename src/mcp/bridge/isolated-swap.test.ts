import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { BerthError } from '../../core/errors.js';
import { createIsolatedBridge } from './isolated.js';
import type { IsolatedBridge, IsolatedBridgeOptions } from '../types.js';
import { alive, ECHO_SERVER, FAST_RESTART, LIMITS, nodeSpawner, serveEndpoint, textOf, waitFor } from '../testing/helpers.js';
import type { HttpFront, NodeSpawner } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(over: Partial<IsolatedBridgeOptions> = {}): Promise<{ bridge: IsolatedBridge; front: HttpFront; old: NodeSpawner }> {
  const old = nodeSpawner(ECHO_SERVER);
  const bridge = createIsolatedBridge({ deploymentId: 'swap', spawn: old.spawn, restart: FAST_RESTART, limits: LIMITS, isolated: { warm: 2, max: 8, maxWarm: 2 }, ...over });
  cleanups.push(() => old.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { bridge, front, old };
}

function spawner(script = ECHO_SERVER): NodeSpawner {
  const s = nodeSpawner(script);
  cleanups.push(() => s.stopAll());
  return s;
}

async function open(url: string): Promise<Client> {
  const client = new Client({ name: 'swap-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  cleanups.push(() => client.close());
  return client;
}

const pids = (s: NodeSpawner): number[] => s.procs.map((p) => p.pid);
const livePids = (s: NodeSpawner): number[] => pids(s).filter(alive);
const whoami = async (c: Client | Client2): Promise<number> => Number(textOf(await c.callTool({ name: 'whoami', arguments: {} })));

describe('IsolatedBridge.swap (a new revision without ending sessions)', () => {
  it('sends new sessions and the pool to the new revision while open sessions keep their process', async () => {
    const h = await setup();
    const a = await open(h.front.url);
    const pa = await whoami(a);
    expect(pids(h.old)).toContain(pa);
    const next = spawner();
    const { tools } = await h.bridge.swap(next.spawn, { drainMs: 60_000 });
    expect(tools.map((t) => t.name)).toContain('whoami');
    // The old pool is stopped: only a's process is left of the old revision.
    await waitFor(() => livePids(h.old).length === 1, 5000, 'the old warm processes to stop');
    expect(livePids(h.old)).toEqual([pa]);
    // a goes on, on its own process.
    expect(await whoami(a)).toBe(pa);
    // New sessions (2025 and a 2026-07-28 stateless call) get the new revision's processes.
    const b = await open(h.front.url);
    expect(pids(next)).toContain(await whoami(b));
    const modern = new Client2({ name: 'swap-2026', version: '1' }, { capabilities: {}, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await modern.connect(new Transport2(new URL(h.front.url)));
    cleanups.push(() => modern.close());
    expect(pids(next)).toContain(await whoami(modern));
    await waitFor(() => h.bridge.stats().processes === 2 + 2, 10_000, 'the new pool');
  });

  it('ends sessions still on the old revision when drainMs passes, with SESSION_DRAINED for calls in flight', async () => {
    const h = await setup();
    const a = await open(h.front.url);
    const pa = await whoami(a);
    const slow = a.callTool({ name: 'slow', arguments: { ms: 20_000, steps: 1 } }, undefined, { timeout: 30_000 }).then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await h.bridge.swap(spawner().spawn, { drainMs: 400 });
    expect(await slow).toMatch(/drain time \(400 ms\) ran out/);
    await waitFor(() => !alive(pa), 5000, 'the drained process to stop');
    await expect(whoami(a)).rejects.toThrow(/404|Session not found/);
  });

  it('rejects, and keeps serving from the old revision, when the new one fails to start', async () => {
    const h = await setup();
    const broken = spawner('/nonexistent/berth-no-such-server.mjs');
    const err = await h.bridge.swap(broken.spawn).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('UPSTREAM_UNAVAILABLE');
    expect((err as BerthError).message).toMatch(/new revision/);
    const c = await open(h.front.url);
    expect(pids(h.old)).toContain(await whoami(c));
    expect(h.bridge.stats().processes).toBeGreaterThanOrEqual(2);
  });
});
