import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { CreateMessageRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { createIsolatedBridge } from './isolated.js';
import type { IsolatedBridge, IsolatedBridgeOptions } from '../types.js';
import { alive, ECHO_SERVER, EVERYTHING_SERVER, FAST_RESTART, LIMITS, nodeSpawner, openGetStream, rawInitialize, rawPost, serveEndpoint, sseMessages, textOf, waitFor } from '../testing/helpers.js';
import type { HttpFront, NodeSpawner } from '../testing/helpers.js';

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

async function setup(over: Partial<IsolatedBridgeOptions> = {}, script = ECHO_SERVER, args: string[] = [], env: Record<string, string> = {}): Promise<Harness> {
  const spawner = nodeSpawner(script, args, env);
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
    // maxWarm 0: no pool grows beside the session, so its process is the only one.
    const h = await setup({ isolated: { warm: 0, max: 4, maxWarm: 0 }, limits: { ...LIMITS, idleTimeoutMs: 300 } });
    const sid = await rawInitialize(h.front.url);
    expect(h.bridge.stats().processes).toBe(1);
    const pid = h.spawner.procs[0]!.pid;
    await waitFor(() => !alive(pid), 5000, 'idle process to stop');
    const res = await rawPost(h.front.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': sid });
    expect(res.status).toBe(404);
  });

  it('refuses sessions past max with 503 when none is idle (each has a GET stream open)', async () => {
    const h = await setup({ isolated: { warm: 1, max: 2 } });
    for (const sid of [await rawInitialize(h.front.url), await rawInitialize(h.front.url)]) {
      const stream = await openGetStream(h.front.url, sid);
      cleanups.push(async () => stream.close());
    }
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

interface ClientInfoReport {
  clientInfo: { name: string };
  capabilities: Record<string, unknown>;
  initialized: number;
}

const clientInfo = async (c: Client): Promise<ClientInfoReport> => JSON.parse(textOf(await c.callTool({ name: 'client_info', arguments: {} }))) as ClientInfoReport;

describe('isolated bridge: the primed warm pool', () => {
  it('answers initialize from a primed pool process and passes the client its own initialized', async () => {
    const h = await setup({ isolated: { warm: 1, max: 4 } });
    const warmPid = h.spawner.procs[0]!.pid;
    const a = await connect(h.front.url);
    expect(await whoami(a.client)).toBe(warmPid);
    // The process was initialized by the bridge (clientInfo berth, the pool's capabilities) before the client came.
    const info = await clientInfo(a.client);
    expect(info.clientInfo.name).toBe('berth');
    expect(Object.keys(info.capabilities).sort()).toEqual(['elicitation', 'roots', 'sampling']);
    // notifications/initialized is held back until the client sends its own: exactly one.
    expect(info.initialized).toBe(1);
    expect(a.client.getServerVersion()?.name).toBe('berth-echo');
  });

  it('refuses server requests for client features the client did not declare', async () => {
    const h = await setup();
    const a = await connect(h.front.url, {});
    const r = await a.client.callTool({ name: 'sample', arguments: { prompt: 'hi' } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toContain('the client did not declare the sampling capability');
    const roots = await a.client.callTool({ name: 'roots', arguments: {} });
    expect(textOf(roots)).toContain('the client did not declare the roots capability');
  });

  it('gives a cold process to a client with another protocol version or more capabilities', async () => {
    const h = await setup({ isolated: { warm: 1, max: 4 } });
    const warmPid = h.spawner.procs[0]!.pid;
    const richer = await connect(h.front.url, { experimental: { x: {} } });
    expect(await whoami(richer.client)).not.toBe(warmPid);
    expect((await clientInfo(richer.client)).clientInfo.name).toBe('sdk1');
    const sid = await rawInitialize(h.front.url, '2025-06-18');
    const res = await rawPost(h.front.url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'client_info', arguments: {} } }, { 'mcp-session-id': sid });
    const body = (await res.json()) as { result: unknown };
    expect((JSON.parse(textOf(body.result)) as ClientInfoReport).clientInfo.name).toBe('raw');
    // The pool process was not used by either of them.
    expect(alive(warmPid)).toBe(true);
    const c = await connect(h.front.url);
    expect(await whoami(c.client)).toBe(warmPid);
  });

  it('holds the pool refill back while a client handshake is in flight', async () => {
    const h = await setup({ isolated: { warm: 1, max: 4 } });
    expect(h.spawner.procs.length).toBe(1);
    const res = await rawPost(h.front.url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '0' } } });
    const sid = res.headers.get('mcp-session-id')!;
    await res.text();
    await new Promise((r) => setTimeout(r, 60));
    expect(h.spawner.procs.length).toBe(1);
    await (await rawPost(h.front.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sid })).text();
    await waitFor(() => h.spawner.procs.length === 2, 2000, 'the refill to start');
    await waitFor(() => h.bridge.stats().processes === 2, 5000, 'the refilled process to be primed');
  });

  it('keeps warm processes uninitialized with prime: false', async () => {
    const h = await setup({ isolated: { warm: 1, max: 4, prime: false } });
    const a = await connect(h.front.url);
    expect((await clientInfo(a.client)).clientInfo.name).toBe('sdk1');
  });
});

const MODERN = { name: 'sdk2-modern', version: '2.0.0' };

async function connectModern(url: string): Promise<Client2> {
  const client = new Client2(MODERN, { capabilities: {}, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new Transport2(new URL(url)));
  cleanups.push(() => client.close());
  return client;
}

function signalFile(): { file: string; emit: (ev: Record<string, unknown>) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-signal-'));
  const file = join(dir, 'signals');
  writeFileSync(file, '');
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return { file, emit: (ev) => appendFileSync(file, `${JSON.stringify(ev)}\n`) };
}

const LISTEN_META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
};
const listenHeaders = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'subscriptions/listen' };

describe('isolated bridge: subscriptions/listen (revision 2026-07-28)', () => {
  it('gives a listen stream its own process: list_changed, resources/updated and logging, stopped on close', async () => {
    const sig = signalFile();
    const h = await setup({ isolated: { warm: 1, max: 4 } }, ECHO_SERVER, [], { ECHO_SIGNAL_FILE: sig.file });
    const client = await connectModern(h.front.url);
    let changed = 0;
    const updated: string[] = [];
    const logs: string[] = [];
    client.setNotificationHandler('notifications/tools/list_changed', () => {
      changed++;
    });
    client.setNotificationHandler('notifications/resources/updated', (n) => {
      updated.push(n.params.uri);
    });
    client.setNotificationHandler('notifications/message', (n) => {
      logs.push(String(n.params.data));
    });
    const sub = await client.listen({ toolsListChanged: true, resourceSubscriptions: ['mem://counter'] });
    expect(sub.honoredFilter).toEqual({ toolsListChanged: true, resourceSubscriptions: ['mem://counter'] });
    sig.emit({ kind: 'pid' });
    await waitFor(() => logs.length === 1, 5000, 'the listen process to report its pid');
    const pid = Number(/^pid (\d+)$/.exec(logs[0]!)?.[1]);
    expect(alive(pid)).toBe(true);
    sig.emit({ kind: 'tools' });
    sig.emit({ kind: 'resource', uri: 'mem://other' });
    sig.emit({ kind: 'resource', uri: 'mem://counter' });
    sig.emit({ kind: 'log', message: 'to listeners' });
    await waitFor(() => changed === 1 && updated.length === 1 && logs.length === 2, 5000, 'notifications on the listen stream');
    expect(updated).toEqual(['mem://counter']);
    expect(logs[1]).toBe('to listeners');
    // The listen process counts as a process of the deployment: itself plus the refilled pool.
    await waitFor(() => h.bridge.stats().processes === 2, 5000, 'pool refill beside the listen process');
    await sub.close();
    await waitFor(() => !alive(pid), 5000, 'the listen process to stop');
    expect(h.exits).toContainEqual({ pid, expected: true });
  });

  it('counts listen streams against isolated.max and ends a stream whose process exits', async () => {
    const sig = signalFile();
    const h = await setup({ isolated: { warm: 0, max: 1 } }, ECHO_SERVER, [], { ECHO_SIGNAL_FILE: sig.file });
    const body = { jsonrpc: '2.0', id: 'L1', method: 'subscriptions/listen', params: { _meta: LISTEN_META, notifications: { toolsListChanged: true } } };
    const ac = new AbortController();
    cleanups.push(async () => ac.abort());
    const first = await fetch(h.front.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...listenHeaders }, body: JSON.stringify(body), signal: ac.signal });
    expect(first.headers.get('content-type')).toContain('text/event-stream');
    const second = await rawPost(h.front.url, { ...body, id: 'L2' }, listenHeaders);
    expect(second.status).toBe(503);
    expect(((await second.json()) as { error: { code: number; data: { code: string } } }).error).toMatchObject({ code: -32011, data: { code: 'TOO_MANY_SESSIONS' } });
    // With no pool, the first process answered the front's initialize probe and stopped; the second listens.
    const live = h.spawner.procs.filter((p) => alive(p.pid));
    expect(live.length).toBe(1);
    process.kill(live[0]!.pid, 'SIGKILL');
    const events = sseMessages(await first.text()) as { method?: string; id?: unknown; error?: { code: number } }[];
    expect(events[0]?.method).toBe('notifications/subscriptions/acknowledged');
    expect(events.at(-1)).toMatchObject({ id: 'L1', error: { code: -32000 } });
  });

  it('needs no process for a listen stream with nothing to honour', async () => {
    const h = await setup({ isolated: { warm: 1, max: 2 } });
    const before = h.spawner.procs.length;
    const ac = new AbortController();
    cleanups.push(async () => ac.abort());
    const body = { jsonrpc: '2.0', id: 'L', method: 'subscriptions/listen', params: { _meta: LISTEN_META, notifications: { promptsListChanged: true } } };
    const res = await fetch(h.front.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...listenHeaders }, body: JSON.stringify(body), signal: ac.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(h.spawner.procs.length).toBe(before);
  });
});
