import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { createSharedBridge } from './shared.js';
import type { BridgeOptions, ServerSnapshot, SharedBridge } from '../types.js';
import { ECHO_SERVER, FAST_RESTART, LIMITS, nodeSpawner, rawInitialize, rawPost, serveEndpoint, textOf, waitFor } from '../testing/helpers.js';
import type { HttpFront, NodeSpawner } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  bridge: SharedBridge;
  front: HttpFront;
  spawner: NodeSpawner;
  events: { idle: number; wake: number; snapshots: ServerSnapshot[]; exits: { pid: number; expected: boolean }[]; ready: number; gaveUp: number };
}

async function setup(scale: BridgeOptions['scale'], over: Partial<BridgeOptions> = {}, env: Record<string, string> = {}, logs: string[] = []): Promise<Harness> {
  const spawner = nodeSpawner(ECHO_SERVER, [], env);
  cleanups.push(() => spawner.stopAll());
  const events: Harness['events'] = { idle: 0, wake: 0, snapshots: [], exits: [], ready: 0, gaveUp: 0 };
  const bridge = createSharedBridge({
    deploymentId: 'scale',
    spawn: spawner.spawn,
    restart: FAST_RESTART,
    limits: LIMITS,
    scale,
    log: (l) => logs.push(l),
    events: {
      onIdle: () => void events.idle++,
      onWake: () => void events.wake++,
      onSnapshot: (s) => void events.snapshots.push(s),
      onProcessExit: (i) => void events.exits.push({ pid: i.pid, expected: i.expected }),
      onProcessReady: () => void events.ready++,
      onGaveUp: () => void events.gaveUp++,
    },
    ...over,
  });
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { bridge, front, spawner, events };
}

async function sdk1(url: string): Promise<Client> {
  const client = new Client({ name: 'sdk1', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  cleanups.push(() => client.close());
  return client;
}

async function sdk2(url: string, modern = false): Promise<Client2> {
  const client = new Client2({ name: 'sdk2', version: '2.0.0' }, modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
  await client.connect(new Transport2(new URL(url)));
  cleanups.push(() => client.close());
  return client;
}

/** A snapshot learned by a running bridge, as the control plane would store it (JSON). */
async function learnedSnapshot(): Promise<ServerSnapshot> {
  const h = await setup({ idleMs: 60_000 });
  await waitFor(() => h.events.snapshots.length > 0, 10_000, 'a snapshot');
  const snap = JSON.parse(JSON.stringify(h.events.snapshots.at(-1))) as ServerSnapshot;
  await h.bridge.close();
  return snap;
}

const names = (items: { name: string }[]): string[] => items.map((t) => t.name).sort();

describe('shared bridge: scale to zero', () => {
  it('stops the idle process, keeps the sessions, answers listings from the snapshot and wakes for a call', async () => {
    const h = await setup({ idleMs: 400 });
    const a = await sdk1(h.front.url);
    const listed = names((await a.listTools()).tools);
    await waitFor(() => h.events.idle === 1, 10_000, 'onIdle');
    const first = h.spawner.procs[0]!;
    expect(h.events.exits).toEqual([{ pid: first.pid, expected: true }]);
    expect(h.bridge.stats()).toMatchObject({ processes: 0, sessions: 1, idleAt: null });
    expect(h.bridge.stats().lastRequestAt).toEqual(expect.any(Number));
    // Listing, a new session (1.x, 2.x, 2026-07-28 discover) and pings start nothing.
    expect(names((await a.listTools()).tools)).toEqual(listed);
    expect((await a.listResources()).resources.map((r) => r.uri)).toEqual(['mem://counter']);
    await a.ping();
    const b = await sdk2(h.front.url);
    expect(b.getServerVersion()?.name).toBe('berth-echo');
    expect(names((await b.listTools()).tools)).toEqual(listed);
    const m = await sdk2(h.front.url, true);
    expect(names((await m.listTools()).tools)).toEqual(listed);
    expect(h.spawner.procs.length).toBe(1);
    expect(h.events.wake).toBe(0);
    expect((await h.bridge.probe(5000)).tools.map((t) => t.name).sort()).toEqual(listed);
    expect(h.spawner.procs.length).toBe(1);
    // A call wakes it: one new process, the call answered, and it is not a crash (no restart was counted).
    expect(textOf(await m.callTool({ name: 'echo', arguments: { text: 'awake' } }))).toBe('awake');
    expect(h.spawner.procs.length).toBe(2);
    expect(h.events.wake).toBe(1);
    expect(textOf(await a.callTool({ name: 'echo', arguments: { text: 'same session' } }))).toBe('same session');
    expect(h.bridge.stats()).toMatchObject({ processes: 1, sessions: 2 });
    expect(h.bridge.stats().idleAt).toEqual(expect.any(Number));
    // Idle again after the call.
    await waitFor(() => h.events.idle === 2, 10_000, 'second onIdle');
    expect(h.events.gaveUp).toBe(0);
  });

  it('starts from a stored snapshot without starting the server; listing never starts it', async () => {
    const snapshot = await learnedSnapshot();
    const h = await setup({ idleMs: 60_000, snapshot });
    expect(h.spawner.procs.length).toBe(0);
    expect(h.bridge.stats()).toMatchObject({ processes: 0 });
    const a = await sdk1(h.front.url);
    expect(a.getServerVersion()).toMatchObject({ name: 'berth-echo', version: '1.0.0' });
    expect(a.getServerCapabilities()?.tools).toBeDefined();
    expect(names((await a.listTools()).tools)).toEqual(names(snapshot.tools as { name: string }[]));
    expect((await a.listResourceTemplates()).resourceTemplates).toEqual([]);
    const m = await sdk2(h.front.url, true);
    expect(m.getDiscoverResult()?.supportedVersions).toEqual(['2026-07-28']);
    expect(names((await m.listTools()).tools)).toContain('echo');
    expect(h.spawner.procs.length).toBe(0);
    expect(textOf(await a.callTool({ name: 'echo', arguments: { text: 'first' } }))).toBe('first');
    expect(h.spawner.procs.length).toBe(1);
    expect(h.events.wake).toBe(1);
    // The live server says the same as the snapshot: nothing new to store.
    expect(h.events.snapshots).toEqual([]);
  });

  it('20 clients waking it at once start exactly one process, and all 20 are answered', async () => {
    const snapshot = await learnedSnapshot();
    const h = await setup({ idleMs: 60_000, snapshot });
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? sdk1(h.front.url) : sdk2(h.front.url, i % 4 === 0))));
    expect(h.spawner.procs.length).toBe(0);
    const answers = await Promise.all(clients.map(async (c, i) => textOf(await c.callTool({ name: 'echo', arguments: { text: `c${i}` } }))));
    expect(answers).toEqual(clients.map((_, i) => `c${i}`));
    expect(h.spawner.procs.length).toBe(1);
    expect(h.events.wake).toBe(1);
    expect(h.events.ready).toBe(1);
  });

  it('bounds the requests held while it wakes by maxStdinBytes', async () => {
    const snapshot = await learnedSnapshot();
    const h = await setup({ idleMs: 60_000, snapshot }, { maxStdinBytes: 3000 });
    const sid = await rawInitialize(h.front.url);
    const call = (i: number) =>
      rawPost(h.front.url, { jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(1000) } } }, { 'mcp-session-id': sid }).then(
        async (r) => (await r.text()).includes('"code":-32014') ? 'busy' : 'ok',
      );
    const got = await Promise.all([1, 2, 3, 4, 5, 6].map(call));
    expect(got.filter((g) => g === 'busy').length).toBeGreaterThan(0);
    expect(got.filter((g) => g === 'ok').length).toBeGreaterThan(0);
    expect(h.spawner.procs.length).toBe(1);
  });

  it('a resource subscription wakes it and keeps it running', async () => {
    const snapshot = await learnedSnapshot();
    const h = await setup({ idleMs: 300, snapshot });
    const a = await sdk1(h.front.url);
    await a.subscribeResource({ uri: 'mem://counter' });
    expect(h.events.wake).toBe(1);
    const stats = JSON.parse(textOf(await a.callTool({ name: 'stats', arguments: {} }))) as { subs: string[] };
    expect(stats.subs).toEqual(['mem://counter']);
    expect(h.bridge.stats().idleAt).toBeNull();
    await a.unsubscribeResource({ uri: 'mem://counter' });
    await waitFor(() => h.events.idle === 1, 10_000, 'onIdle once unsubscribed');
  });

  it('refreshes the snapshot when the live server says its tools changed', async () => {
    const h = await setup({ idleMs: 300 });
    const a = await sdk1(h.front.url);
    // The subscription keeps this process running until the test has seen the refresh.
    await a.subscribeResource({ uri: 'mem://counter' });
    await waitFor(() => h.events.snapshots.length === 1, 10_000, 'first snapshot');
    await a.callTool({ name: 'add_tool', arguments: {} });
    await waitFor(() => h.events.snapshots.length === 2, 10_000, 'refreshed snapshot');
    expect((h.events.snapshots[1]!.tools as { name: string }[]).map((t) => t.name)).toContain('extra_1');
    await a.unsubscribeResource({ uri: 'mem://counter' });
    await waitFor(() => h.events.idle === 1, 10_000, 'onIdle');
    expect(names((await a.listTools()).tools)).toContain('extra_1');
    expect(h.spawner.procs.length).toBe(1);
  });

  it('keeps every page of a paged listing, and forwards a request that names a cursor', async () => {
    const h = await setup({ idleMs: 300 }, {}, { ECHO_PAGED_RESOURCES: '8' });
    const a = await sdk1(h.front.url);
    const page1 = await a.listResources();
    expect(page1.nextCursor).toEqual('3');
    await waitFor(() => h.events.idle === 1, 10_000, 'onIdle');
    const all = await a.listResources();
    expect(all.nextCursor).toBeUndefined();
    expect(all.resources.map((r) => r.uri)).toEqual(Array.from({ length: 8 }, (_, i) => `mem://item/${i}`));
    expect(h.spawner.procs.length).toBe(1);
    // A cursor is the live server's to read: that request goes to it, and wakes it.
    const page2 = await a.listResources({ cursor: page1.nextCursor });
    expect(page2.resources.map((r) => r.uri)).toEqual(['mem://item/3', 'mem://item/4', 'mem://item/5']);
    expect(h.spawner.procs.length).toBe(2);
    expect(h.events.wake).toBe(1);
  });

  it('a request that comes while the idle process is being stopped gets a new process once it is gone', async () => {
    const logs: string[] = [];
    const h = await setup({ idleMs: 300 }, {}, { ECHO_TERM_DELAY_MS: '1500' }, logs);
    const a = await sdk1(h.front.url);
    await waitFor(() => logs.some((l) => l.includes('idle: stopping it')), 10_000, 'the idle stop to begin');
    // The old process takes 1.5 s to exit: this call arrives meanwhile.
    expect(h.events.exits).toEqual([]);
    expect(textOf(await a.callTool({ name: 'whoami', arguments: {} }))).toBe(String(h.spawner.procs[1]?.pid));
    expect(h.events).toMatchObject({ idle: 1, wake: 1, gaveUp: 0 });
    expect(h.events.exits).toEqual([{ pid: h.spawner.procs[0]!.pid, expected: true }]);
  });

  it('ignores a malformed stored snapshot and starts the server', async () => {
    const logs: string[] = [];
    const h = await setup({ idleMs: 60_000, snapshot: { tools: 'nope' } as unknown as ServerSnapshot }, {}, {}, logs);
    expect(h.spawner.procs.length).toBe(1);
    expect(logs.some((l) => l.includes('snapshot is malformed'))).toBe(true);
    const a = await sdk1(h.front.url);
    expect(names((await a.listTools()).tools)).toContain('echo');
  });

  it('a swap while scaled to zero starts the new revision, learns its snapshot, and goes idle again', async () => {
    const snapshot = await learnedSnapshot();
    const h = await setup({ idleMs: 300, snapshot });
    const a = await sdk1(h.front.url);
    const next = nodeSpawner(ECHO_SERVER, [], { ECHO_REVISION: '2' });
    cleanups.push(() => next.stopAll());
    const { tools } = await h.bridge.swap(next.spawn);
    expect(tools.map((t) => t.name)).toContain('rev_2');
    expect((h.events.snapshots.at(-1)?.tools as { name: string }[]).map((t) => t.name)).toContain('rev_2');
    await waitFor(() => h.events.idle === 1, 10_000, 'onIdle after the swap');
    expect(names((await a.listTools()).tools)).toContain('rev_2');
    expect(h.spawner.procs.length + next.procs.length).toBe(1);
    expect(textOf(await a.callTool({ name: 'revision', arguments: {} }))).toBe('2');
    expect(next.procs.length).toBe(2);
  });
});
