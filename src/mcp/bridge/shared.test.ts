import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { LoggingMessageNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { createSharedBridge } from './shared.js';
import type { BridgeOptions, SharedBridge } from '../types.js';
import { ECHO_SERVER, EVERYTHING_SERVER, FAST_RESTART, LIMITS, nodeSpawner, serveEndpoint, textOf, waitFor } from '../testing/helpers.js';
import type { HttpFront, NodeSpawner } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  bridge: SharedBridge;
  front: HttpFront;
  spawner: NodeSpawner;
  logs: string[];
  events: { ready: number[]; exits: { pid: number; expected: boolean }[]; gaveUp: string[]; listChanged: string[] };
}

async function setup(over: Partial<BridgeOptions> = {}, script = ECHO_SERVER, args: string[] = []): Promise<Harness> {
  const spawner = nodeSpawner(script, args);
  const logs: string[] = [];
  const events: Harness['events'] = { ready: [], exits: [], gaveUp: [], listChanged: [] };
  const bridge = createSharedBridge({
    deploymentId: 'test',
    spawn: spawner.spawn,
    restart: FAST_RESTART,
    limits: LIMITS,
    log: (l) => logs.push(l),
    events: {
      onProcessReady: (i) => events.ready.push(i.pid),
      onProcessExit: (i) => events.exits.push({ pid: i.pid, expected: i.expected }),
      onGaveUp: (r) => events.gaveUp.push(r),
      onListChanged: (m) => events.listChanged.push(m),
    },
    ...over,
  });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { bridge, front, spawner, logs, events };
}

async function connect1(url: string): Promise<Client> {
  const client = new Client({ name: 'sdk1', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  cleanups.push(() => client.close());
  return client;
}

async function connect2(url: string): Promise<Client2> {
  const client = new Client2({ name: 'sdk2', version: '2.0.0' });
  await client.connect(new Transport2(new URL(url)));
  cleanups.push(() => client.close());
  return client;
}

describe('shared bridge with SDK clients', () => {
  it('serves initialize, tools/list and tools/call to an SDK 1.x client', async () => {
    const h = await setup();
    const client = await connect1(h.front.url);
    expect(client.getServerVersion()?.name).toBe('berth-echo');
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('echo');
    const r = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
    expect(textOf(r)).toBe('hello');
    expect(h.bridge.stats()).toMatchObject({ sessions: 1, processes: 1 });
  });

  it('serves an SDK 2.x client', async () => {
    const h = await setup();
    const client = await connect2(h.front.url);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('whoami');
    const r = await client.callTool({ name: 'echo', arguments: { text: 'v2' } });
    expect(textOf(r)).toBe('v2');
  });

  it('delivers progress notifications with the client’s own token', async () => {
    const h = await setup();
    const other = await connect1(h.front.url);
    await other.listTools(); // so upstream ids/tokens no longer coincide with this client's ids
    await other.listTools();
    const client = await connect1(h.front.url);
    const seen: number[] = [];
    const r = await client.callTool({ name: 'slow', arguments: { ms: 200, steps: 4 } }, undefined, {
      onprogress: (p) => seen.push(p.progress),
    });
    expect(textOf(r)).toBe('slept 200');
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('keeps 32 concurrent sessions apart on one process', async () => {
    const h = await setup();
    const clients = await Promise.all(Array.from({ length: 32 }, () => connect1(h.front.url)));
    expect(h.bridge.stats().sessions).toBe(32);
    const results = await Promise.all(
      clients.flatMap((c, i) =>
        Array.from({ length: 5 }, async (_, j) => {
          const r = await c.callTool({ name: 'echo', arguments: { text: `client-${i}-call-${j}` } });
          return [`client-${i}-call-${j}`, textOf(r)];
        }),
      ),
    );
    for (const [want, got] of results) expect(got).toBe(want);
    expect(h.spawner.procs.length).toBe(1);
  });

  it('passes cancellation to the server', async () => {
    const h = await setup();
    const other = await connect1(h.front.url);
    await other.listTools(); // upstream ids no longer equal this client's ids
    const client = await connect1(h.front.url);
    const ac = new AbortController();
    const call = client.callTool({ name: 'slow', arguments: { ms: 5000 } }, undefined, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 300));
    ac.abort('stop');
    await expect(call).rejects.toThrow();
    await waitFor(() => h.bridge.stats().inFlight === 0, 3000, 'in-flight to drain');
    const stats = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))) as { aborted: number };
    expect(stats.aborted).toBe(1);
  });

  it('answers a crashed call with an error and restarts the process', async () => {
    const h = await setup();
    const client = await connect1(h.front.url);
    const pid1 = textOf(await client.callTool({ name: 'whoami', arguments: {} }));
    await expect(client.callTool({ name: 'crash', arguments: {} })).rejects.toThrow(/exited/);
    const pid2 = textOf(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(pid2).not.toBe(pid1);
    expect(h.events.ready.length).toBe(2);
    expect(h.events.exits.some((e) => String(e.pid) === pid1 && !e.expected)).toBe(true);
  });

  it('gives up after repeated crashes', async () => {
    const h = await setup({ restart: { initialDelayMs: 20, maxDelayMs: 50, maxCrashes: 3, windowMs: 60_000 } });
    const client = await connect1(h.front.url);
    for (let i = 0; i < 3; i++) {
      await expect(client.callTool({ name: 'crash', arguments: {} })).rejects.toThrow();
    }
    await waitFor(() => h.events.gaveUp.length === 1, 5000, 'onGaveUp');
    await expect(client.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toThrow(/unavailable/i);
    expect(h.bridge.stats().processes).toBe(0);
  });

  it('broadcasts list_changed and logging messages to every session', async () => {
    const h = await setup();
    const a = await connect1(h.front.url);
    const b = await connect1(h.front.url);
    let changedB = 0;
    const logsB: unknown[] = [];
    b.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changedB++;
    });
    b.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logsB.push(n.params.data);
    });
    await new Promise((r) => setTimeout(r, 200)); // let b open its GET stream
    await a.callTool({ name: 'add_tool', arguments: {} });
    await a.callTool({ name: 'log', arguments: { message: 'hi all' } });
    await waitFor(() => changedB === 1 && logsB.length === 1, 5000, 'broadcast');
    expect(logsB).toEqual(['hi all']);
    expect(h.events.listChanged).toContain('notifications/tools/list_changed');
    const { tools } = await b.listTools();
    expect(tools.map((t) => t.name)).toContain('extra_1');
  });

  it('probes tools/list', async () => {
    const h = await setup();
    const { tools } = await h.bridge.probe(5000);
    expect(tools.find((t) => t.name === 'echo')).toEqual({ name: 'echo', description: 'Returns its text' });
  });

  it('works with @modelcontextprotocol/server-everything', async () => {
    const h = await setup({}, EVERYTHING_SERVER, ['stdio']);
    const c1 = await connect1(h.front.url);
    const c2 = await connect2(h.front.url);
    const r1 = await c1.callTool({ name: 'echo', arguments: { message: 'one' } });
    const r2 = await c2.callTool({ name: 'echo', arguments: { message: 'two' } });
    expect(textOf(r1)).toContain('one');
    expect(textOf(r2)).toContain('two');
    const probe = await h.bridge.probe(5000);
    expect(probe.tools.length).toBeGreaterThan(3);
  });

  it('holds requests that arrive while the process restarts', async () => {
    const h = await setup({ restart: { initialDelayMs: 400, maxDelayMs: 400, maxCrashes: 5, windowMs: 60_000 } });
    const a = await connect1(h.front.url);
    const b = await connect1(h.front.url);
    await expect(a.callTool({ name: 'crash', arguments: {} })).rejects.toThrow(/exited/);
    expect(h.bridge.stats().processes).toBe(0);
    const started = Date.now();
    expect(textOf(await b.callTool({ name: 'echo', arguments: { text: 'waited' } }))).toBe('waited');
    expect(Date.now() - started).toBeGreaterThan(200);
    expect(h.bridge.stats().sessions).toBe(2);
  });
});

describe('shared bridge start()', () => {
  it('rejects when the process exits before the handshake', async () => {
    const spawner = nodeSpawner('-e', ['process.exit(3)']);
    const bridge = createSharedBridge({ deploymentId: 'x', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS });
    cleanups.push(() => spawner.stopAll());
    cleanups.push(() => bridge.close());
    await expect(bridge.start()).rejects.toThrow(/exit code 3/);
  });

  it('rejects when the handshake times out', async () => {
    const spawner = nodeSpawner('-e', ['setInterval(() => {}, 1000)']);
    const bridge = createSharedBridge({
      deploymentId: 'x',
      spawn: spawner.spawn,
      restart: FAST_RESTART,
      limits: LIMITS,
      timing: { handshakeTimeoutMs: 300 },
    });
    cleanups.push(() => spawner.stopAll());
    cleanups.push(() => bridge.close());
    await expect(bridge.start()).rejects.toThrow();
  });

  it('rejects when spawn fails', async () => {
    const bridge = createSharedBridge({
      deploymentId: 'x',
      spawn: () => Promise.reject(new Error('no such command')),
      restart: FAST_RESTART,
      limits: LIMITS,
    });
    cleanups.push(() => bridge.close());
    await expect(bridge.start()).rejects.toThrow(/no such command/);
  });
});
