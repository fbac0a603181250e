import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { CreateMessageRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { createIsolatedBridge } from './isolated.js';
import type { IsolatedBridge, IsolatedBridgeOptions } from './types.js';
import { ECHO_SERVER, EVERYTHING_SERVER, FAST_RESTART, LIMITS, nodeSpawner, rawInitialize, rawPost, serveEndpoint, textOf, waitFor } from '../../test/fixtures/mcp-helpers.js';
import type { HttpFront, NodeSpawner } from '../../test/fixtures/mcp-helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  bridge: IsolatedBridge;
  front: HttpFront;
  spawner: NodeSpawner;
  exits: { pid: number; expected: boolean }[];
}

async function setup(over: Partial<IsolatedBridgeOptions> = {}, script = ECHO_SERVER, args: string[] = []): Promise<Harness> {
  const spawner = nodeSpawner(script, args);
  const exits: Harness['exits'] = [];
  const bridge = createIsolatedBridge({
    deploymentId: 'iso',
    spawn: spawner.spawn,
    restart: FAST_RESTART,
    limits: LIMITS,
    isolated: { warm: 1, max: 4 },
    events: { onProcessExit: (i) => exits.push({ pid: i.pid, expected: i.expected }) },
    ...over,
  });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { bridge, front, spawner, exits };
}

async function connect(url: string, capabilities: Record<string, unknown> = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'sdk1', version: '1.0.0' }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  cleanups.push(() => client.close());
  return { client, transport };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const whoami = async (c: Client): Promise<number> => Number(textOf(await c.callTool({ name: 'whoami', arguments: {} })));

describe('isolated bridge', () => {
  it('gives each session its own process and refills the warm pool', async () => {
    const h = await setup({ isolated: { warm: 2, max: 4 } });
    expect(h.bridge.stats().processes).toBe(2);
    const a = await connect(h.front.url);
    const b = await connect(h.front.url);
    const [pa, pb] = [await whoami(a.client), await whoami(b.client)];
    expect(pa).not.toBe(pb);
    expect(h.spawner.procs.slice(0, 2).map((p) => p.pid)).toEqual(expect.arrayContaining([pa, pb]));
    // Two sessions + 2 warm would be 4 = max.
    await waitFor(() => h.bridge.stats().processes === 4, 5000, 'pool refill');
    expect(h.bridge.stats().sessions).toBe(2);
  });

  it('stops the process when the session ends', async () => {
    const h = await setup({ isolated: { warm: 1, max: 4 } });
    const a = await connect(h.front.url);
    const pid = await whoami(a.client);
    await a.transport.terminateSession();
    await waitFor(() => !alive(pid), 5000, 'process to stop');
    expect(h.exits).toContainEqual({ pid, expected: true });
    await waitFor(() => h.bridge.stats().processes === 1, 5000, 'pool back to warm');
    expect(h.bridge.stats().sessions).toBe(0);
  });

  it('stops the process of an idle-expired session', async () => {
    const h = await setup({ isolated: { warm: 0, max: 4 }, limits: { ...LIMITS, idleTimeoutMs: 300 } });
    const sid = await rawInitialize(h.front.url);
    expect(h.bridge.stats().processes).toBe(1);
    const pid = h.spawner.procs[0]!.pid;
    await waitFor(() => !alive(pid), 5000, 'idle process to stop');
    const res = await rawPost(h.front.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': sid });
    expect(res.status).toBe(404);
  });

  it('refuses sessions past max with 503', async () => {
    const h = await setup({ isolated: { warm: 1, max: 2 } });
    await rawInitialize(h.front.url);
    await rawInitialize(h.front.url);
    const res = await rawPost(h.front.url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '0' } } });
    expect(res.status).toBe(503);
    expect(h.bridge.stats().processes).toBe(2);
  });

  it('routes sampling and roots requests to the client and the answers back', async () => {
    const h = await setup();
    const { client } = await connect(h.front.url, { sampling: {}, roots: { listChanged: true } });
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      const first = req.params.messages[0]?.content;
      const text = first && 'text' in first ? String(first.text) : '';
      return { role: 'assistant', model: 'test', content: { type: 'text', text: `sampled:${text}` } };
    });
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///tmp/a' }, { uri: 'file:///tmp/b' }] }));
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'hi' } }))).toBe('sampled:hi');
    expect(textOf(await client.callTool({ name: 'roots', arguments: {} }))).toBe('file:///tmp/a,file:///tmp/b');
  });

  it('ends a session whose process crashes; the client re-initializes', async () => {
    const h = await setup();
    const a = await connect(h.front.url);
    await expect(a.client.callTool({ name: 'crash', arguments: {} })).rejects.toThrow(/exited/);
    await expect(a.client.callTool({ name: 'echo', arguments: { text: 'x' } })).rejects.toThrow();
    await waitFor(() => h.bridge.stats().sessions === 0, 3000, 'session to end');
    const b = await connect(h.front.url);
    expect(textOf(await b.client.callTool({ name: 'echo', arguments: { text: 'again' } }))).toBe('again');
  });

  it('serves progress, an SDK 2.x client and a probe', async () => {
    const h = await setup();
    const a = await connect(h.front.url);
    const seen: number[] = [];
    await a.client.callTool({ name: 'slow', arguments: { ms: 100, steps: 2 } }, undefined, { onprogress: (p) => seen.push(p.progress) });
    expect(seen).toEqual([1, 2]);
    const c2 = new Client2({ name: 'sdk2', version: '2.0.0' });
    await c2.connect(new Transport2(new URL(h.front.url)));
    cleanups.push(() => c2.close());
    expect(textOf(await c2.callTool({ name: 'echo', arguments: { text: 'v2' } }))).toBe('v2');
    const before = h.spawner.procs.length;
    const { tools } = await h.bridge.probe(5000);
    expect(tools.map((t) => t.name)).toContain('whoami');
    expect(h.spawner.procs.length).toBe(before + 1);
    await waitFor(() => !alive(h.spawner.procs.at(-1)!.pid), 5000, 'probe process to stop');
  });

  it('runs server-everything per session', async () => {
    const h = await setup({ isolated: { warm: 1, max: 2 } }, EVERYTHING_SERVER, ['stdio']);
    const a = await connect(h.front.url);
    const r = await a.client.callTool({ name: 'echo', arguments: { message: 'iso' } });
    expect(textOf(r)).toContain('iso');
  });
});
