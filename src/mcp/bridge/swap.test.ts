import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { BerthError } from '../../core/errors.js';
import { createSharedBridge } from './shared.js';
import type { BridgeOptions, ServerSnapshot, SharedBridge } from '../types.js';
import { ECHO_SERVER, FAST_RESTART, LIMITS, nodeSpawner, serveEndpoint, textOf, waitFor } from '../testing/helpers.js';
import type { HttpFront, NodeSpawner } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A spawner of the echo fixture as revision `rev` (its `revision` tool answers it; its tool list has `rev_<rev>`). */
function revision(rev: string): NodeSpawner {
  const s = nodeSpawner(ECHO_SERVER, [], { ECHO_REVISION: rev });
  cleanups.push(() => s.stopAll());
  return s;
}

interface Harness {
  bridge: SharedBridge;
  front: HttpFront;
  exits: { pid: number; expected: boolean; key: string }[];
  snapshots: ServerSnapshot[];
}

async function setup(first: NodeSpawner, over: Partial<BridgeOptions> = {}): Promise<Harness> {
  const exits: Harness['exits'] = [];
  const snapshots: ServerSnapshot[] = [];
  const bridge = createSharedBridge({
    deploymentId: 'swap',
    spawn: first.spawn,
    restart: FAST_RESTART,
    limits: LIMITS,
    events: { onProcessExit: (i) => exits.push({ pid: i.pid, expected: i.expected, key: i.instanceKey }), onSnapshot: (s) => snapshots.push(s) },
    ...over,
  });
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { bridge, front, exits, snapshots };
}

/** What the load loops need from any SDK client. */
interface Caller {
  kind: string;
  call(name: string, args: Record<string, unknown>, onprogress?: (p: number) => void): Promise<string>;
  /** tools/list_changed notifications received (2025 sessions only; a 2026-07-28 client has no stream here). */
  listChanged: number;
}

async function sdk1(url: string, legacySse?: string): Promise<Caller> {
  const client = new Client({ name: 'sdk1', version: '1.0.0' });
  await client.connect(legacySse ? new SSEClientTransport(new URL(legacySse)) : new StreamableHTTPClientTransport(new URL(url)));
  cleanups.push(() => client.close());
  const c: Caller = {
    kind: legacySse ? 'sdk1/legacy-sse-2024-11-05' : 'sdk1/2025-11-25',
    listChanged: 0,
    call: async (name, args, onprogress) => textOf(await client.callTool({ name, arguments: args }, undefined, onprogress ? { onprogress: (p) => onprogress(p.progress) } : undefined)),
  };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => void c.listChanged++);
  return c;
}

async function sdk2(url: string, modern: boolean): Promise<Caller> {
  const client = new Client2({ name: 'sdk2', version: '2.0.0' }, modern ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
  await client.connect(new Transport2(new URL(url)));
  cleanups.push(() => client.close());
  const c: Caller = {
    kind: modern ? 'sdk2/2026-07-28' : 'sdk2/2025-11-25',
    listChanged: 0,
    call: async (name, args, onprogress) => textOf(await client.callTool({ name, arguments: args }, onprogress ? { onprogress: (p) => onprogress(p.progress) } : undefined)),
  };
  client.setNotificationHandler('notifications/tools/list_changed', () => void c.listChanged++);
  return c;
}

/** Eight sessions: SDK 1.x and 2.x clients, on revisions 2025-11-25 and 2026-07-28, one over legacy HTTP+SSE. */
async function eightClients(front: HttpFront): Promise<Caller[]> {
  const url = front.url;
  return Promise.all([sdk1(url), sdk1(url), sdk1(url, front.sseUrl), sdk2(url, false), sdk2(url, false), sdk2(url, false), sdk2(url, true), sdk2(url, true)]);
}

interface Load {
  failures: string[];
  calls: number;
  /** The revision each client's last call was answered by. */
  last: string[];
  /** Stop once every client has made a call that started after now; resolves when all loops are done. */
  finish(): Promise<void>;
}

/** Each client calls in a loop: `revision`, then a slow call with progress (so calls are in flight at any moment). */
function load(clients: Caller[]): Load {
  const out: Load = { failures: [], calls: 0, last: clients.map(() => ''), finish: async () => {} };
  let stopAt = Infinity;
  const loops = clients.map(async (c, i) => {
    for (let n = 0; ; n++) {
      const started = Date.now();
      try {
        if (n % 2 === 0) out.last[i] = await c.call('revision', {});
        else {
          const seen: number[] = [];
          const text = await c.call('slow', { ms: 120, steps: 3 }, (p) => seen.push(p));
          // The SDK's legacy SSE client may handle the last progress after the result (one chunk): see legacy.test.ts.
          const progressOk = c.kind.includes('legacy') ? '1,2,3'.startsWith(seen.join()) : seen.join() === '1,2,3';
          if (text !== 'slept 120' || !progressOk) out.failures.push(`${c.kind}: slow answered ${text} with progress ${seen.join()}`);
        }
        out.calls++;
      } catch (err) {
        out.failures.push(`${c.kind}: ${(err as Error).message}`);
      }
      if (started > stopAt && n % 2 === 0) return;
    }
  });
  out.finish = async () => {
    stopAt = Date.now();
    await Promise.all(loops);
  };
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('shared bridge swap (blue-green)', () => {
  it('swaps twice under load from 8 SDK sessions without a failed call; every session ends on the new process', async () => {
    const r1 = revision('1');
    const r2 = revision('2');
    const r3 = revision('3');
    const h = await setup(r1, process.env.DEBUG_SWAP ? { log: (l) => console.log(Date.now() % 100000, l) } : {});
    const clients = await eightClients(h.front);
    const run = load(clients);
    await waitFor(() => run.calls >= 16, 10_000, 'load to get going');
    const first = await h.bridge.swap(r2.spawn, { drainMs: 10_000 });
    expect(first.tools.map((t) => t.name)).toContain('rev_2');
    await waitFor(() => run.last.every((l) => l === '2'), 10_000, 'every client on revision 2');
    const second = await h.bridge.swap(r3.spawn, { drainMs: 10_000 });
    expect(second.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['rev_3', 'revision', 'echo']));
    expect(second.tools.map((t) => t.name)).not.toContain('rev_2');
    await run.finish();
    expect(run.failures).toEqual([]);
    expect(run.last).toEqual(Array(8).fill('3'));
    // The old processes drained and were stopped by Berth (an expected exit); only revision 3 runs.
    await waitFor(() => h.exits.length === 2, 10_000, 'old processes to stop');
    expect(h.exits.map((e) => e.pid).sort()).toEqual([r1.procs[0]!.pid, r2.procs[0]!.pid].sort());
    expect(h.exits.every((e) => e.expected)).toBe(true);
    expect(h.bridge.stats()).toMatchObject({ processes: 1, sessions: 6 });
    expect([r1.procs.length, r2.procs.length, r3.procs.length]).toEqual([1, 1, 1]);
    // Sessions with a GET stream heard that the tools changed, once per swap.
    for (const c of clients.filter((x) => !x.kind.includes('2026'))) await waitFor(() => c.listChanged === 2, 5000, `${c.kind} list_changed`);
    expect(h.snapshots.at(-1)?.tools?.map((t) => (t as { name: string }).name)).toContain('rev_3');
  });

  it('finishes a call in flight on the old process, progress included, then stops it', async () => {
    const r1 = revision('1');
    const r2 = revision('2');
    const h = await setup(r1);
    const [c] = await Promise.all([sdk1(h.front.url)]);
    const seen: number[] = [];
    const call = c!.call('slow', { ms: 4000, steps: 4 }, (p) => seen.push(p));
    await waitFor(() => seen.length >= 1, 5000, 'first progress');
    await h.bridge.swap(r2.spawn);
    expect(h.bridge.stats().processes).toBe(2);
    expect(await c!.call('revision', {})).toBe('2');
    expect(await call).toBe('slept 4000');
    expect(seen).toEqual([1, 2, 3, 4]);
    await waitFor(() => h.exits.length === 1, 5000, 'old process to stop');
    expect(h.exits[0]).toMatchObject({ pid: r1.procs[0]!.pid, expected: true });
    expect(h.bridge.stats().processes).toBe(1);
  });

  it('stops the old process at drainMs even with a call still in flight', async () => {
    const r1 = revision('1');
    const r2 = revision('2');
    const h = await setup(r1);
    const c = await sdk1(h.front.url);
    const call = c.call('slow', { ms: 20_000, steps: 2 });
    await sleep(200);
    await h.bridge.swap(r2.spawn, { drainMs: 300 });
    await expect(call).rejects.toThrow(/exited/);
    expect(h.exits).toEqual([expect.objectContaining({ pid: r1.procs[0]!.pid, expected: true })]);
    expect(await c.call('revision', {})).toBe('2');
  });

  it('replays resource subscriptions to the new process', async () => {
    const r1 = revision('1');
    const r2 = revision('2');
    const h = await setup(r1);
    const client = new Client({ name: 'sub', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(h.front.url)));
    cleanups.push(() => client.close());
    const updated: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    await client.subscribeResource({ uri: 'mem://counter' });
    await h.bridge.swap(r2.spawn);
    const stats = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))) as { subs: string[] };
    expect(stats.subs).toEqual(['mem://counter']);
    await client.callTool({ name: 'touch', arguments: { uri: 'mem://counter' } });
    await waitFor(() => updated.length === 1, 5000, 'resources/updated from the new process');
  });

  it('sends list_changed only when the lists differ', async () => {
    const r1 = revision('1');
    const same = revision('1');
    const r2 = revision('2');
    const h = await setup(r1);
    const c = await sdk1(h.front.url);
    await c.call('echo', { text: 'x' });
    await h.bridge.swap(same.spawn);
    await h.bridge.swap(r2.spawn);
    await waitFor(() => c.listChanged >= 1, 5000, 'list_changed');
    // Notifications reach the GET stream in order: the first swap sent none.
    expect(c.listChanged).toBe(1);
    expect(await c.call('revision', {})).toBe('2');
  });

  it('a 2026-07-28 listen stream hears the new tools and keeps its resource subscription across a swap', async () => {
    const r1 = revision('1');
    const r2 = revision('2');
    const h = await setup(r1);
    const client = new Client2({ name: 'listener', version: '2' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new Transport2(new URL(h.front.url)));
    cleanups.push(() => client.close());
    let changed = 0;
    const updated: string[] = [];
    client.setNotificationHandler('notifications/tools/list_changed', () => void changed++);
    client.setNotificationHandler('notifications/resources/updated', (n) => void updated.push(n.params.uri));
    const sub = await client.listen({ toolsListChanged: true, resourceSubscriptions: ['mem://counter'] });
    cleanups.push(() => sub.close());
    await h.bridge.swap(r2.spawn);
    await waitFor(() => changed === 1, 5000, 'list_changed on the listen stream');
    await client.callTool({ name: 'touch', arguments: { uri: 'mem://counter' } });
    await waitFor(() => updated.length === 1, 5000, 'resources/updated from the new process');
    expect(textOf(await client.callTool({ name: 'revision', arguments: {} }))).toBe('2');
  });

  const failing: [string, () => NodeSpawner | { spawn: () => Promise<never> }, RegExp][] = [
    ['exits at once', () => nodeSpawner('-e', ['process.exit(3)']), /exit code 3/],
    ['never answers initialize', () => nodeSpawner('-e', ['setInterval(() => {}, 1000)']), /no initialize answer within 3000 ms/],
    [
      'answers initialize with an error',
      () =>
        nodeSpawner('-e', [
          "require('readline').createInterface({ input: process.stdin }).on('line', (l) => { const m = JSON.parse(l); if (m.id !== undefined) console.log(JSON.stringify({ jsonrpc: '2.0', id: m.id, error: { code: -32603, message: 'bad config' } })); })",
        ]),
      /initialize error -32603: bad config/,
    ],
    ['cannot be spawned', () => ({ spawn: () => Promise.reject(new Error('no such command: nope')) }), /spawn failed: no such command: nope/],
  ];
  for (const [what, make, why] of failing) {
    it(`keeps the old process serving, with no failed call, when the new one ${what}`, async () => {
      const r1 = revision('1');
      const bad = make();
      if ('stopAll' in bad) cleanups.push(() => bad.stopAll());
      const h = await setup(r1, { timing: { handshakeTimeoutMs: 3000 } });
      const clients = await Promise.all([sdk1(h.front.url), sdk2(h.front.url, false), sdk2(h.front.url, true)]);
      const run = load(clients);
      await waitFor(() => run.calls >= 6, 10_000, 'load to get going');
      const err = await h.bridge.swap(bad.spawn).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('UPSTREAM_UNAVAILABLE');
      expect((err as BerthError).message).toMatch(why);
      await run.finish();
      expect(run.failures).toEqual([]);
      expect(run.last).toEqual(['1', '1', '1']);
      expect(h.bridge.stats().processes).toBe(1);
      if ('procs' in bad) await Promise.all(bad.procs.map((p) => p.exited));
      // The bridge still swaps afterwards.
      const r2 = revision('2');
      await h.bridge.swap(r2.spawn);
      expect(await clients[0]!.call('revision', {})).toBe('2');
    });
  }
});
