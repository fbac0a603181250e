import { afterEach, describe, expect, it } from 'vitest';
import type { BridgeOptions } from '../types.js';
import {
  ECHO_SERVER,
  LIMITS,
  RAW_SERVER,
  openGetStream,
  rawInitialize,
  rawPost,
  sseMessages,
  startSharedBridge,
  textOf,
  waitFor,
} from '../testing/helpers.js';
import type { SharedHarness } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const setup = (over: Partial<BridgeOptions> = {}, script = ECHO_SERVER): Promise<SharedHarness> => startSharedBridge(script, over, cleanups);

const call = (id: number, name: string, args: Record<string, unknown>, meta?: Record<string, unknown>): unknown => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
});

interface RpcBody {
  id: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

describe('Streamable HTTP transport: validation', () => {
  it('rejects bad requests with the right status and JSON-RPC error', async () => {
    const { front } = await setup();
    const url = front.url;
    const sid = await rawInitialize(url);

    const unknown = await rawPost(url, call(2, 'echo', { text: 'x' }), { 'mcp-session-id': 'nope' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32012 } });

    const missing = await rawPost(url, call(2, 'echo', { text: 'x' }));
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as RpcBody).error?.code).toBe(-32600);

    const badJson = await rawPost(url, '{"jsonrpc": "2.0", ', { 'mcp-session-id': sid });
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as RpcBody).error?.code).toBe(-32700);

    const notRpc = await rawPost(url, { jsonrpc: '2.0', foo: 1 }, { 'mcp-session-id': sid });
    expect(notRpc.status).toBe(400);
    expect(((await notRpc.json()) as RpcBody).error?.code).toBe(-32600);

    const emptyBatch = await rawPost(url, [], { 'mcp-session-id': sid });
    expect(emptyBatch.status).toBe(400);

    const ct = await rawPost(url, call(3, 'echo', { text: 'x' }), { 'mcp-session-id': sid, 'content-type': 'text/plain' });
    expect(ct.status).toBe(415);

    const accept = await rawPost(url, call(3, 'echo', { text: 'x' }), { 'mcp-session-id': sid, accept: 'text/html' });
    expect(accept.status).toBe(406);

    const star = await rawPost(url, call(4, 'echo', { text: 'star' }), { 'mcp-session-id': sid, accept: '*/*' });
    expect(star.status).toBe(200);

    const version = await rawPost(url, call(5, 'echo', { text: 'x' }), { 'mcp-session-id': sid, 'mcp-protocol-version': '1999-01-01' });
    expect(version.status).toBe(400);
    const okVersion = await rawPost(url, call(5, 'echo', { text: 'x' }), { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-06-18' });
    expect(okVersion.status).toBe(200);

    const put = await fetch(url, { method: 'PUT', headers: { 'mcp-session-id': sid } });
    expect(put.status).toBe(405);
    expect(put.headers.get('allow')).toContain('POST');

    const getNoSession = await fetch(url, { headers: { accept: 'text/event-stream' } });
    expect(getNoSession.status).toBe(400);
  });

  it('answers notifications with 202, requests with JSON, batches with arrays', async () => {
    const { front } = await setup();
    const sid = await rawInitialize(front.url);
    const h = { 'mcp-session-id': sid };
    const note = await rawPost(front.url, { jsonrpc: '2.0', method: 'notifications/roots/list_changed' }, h);
    expect(note.status).toBe(202);
    expect(await note.text()).toBe('');

    const single = await rawPost(front.url, call(7, 'echo', { text: 'one' }), h);
    expect(single.headers.get('content-type')).toContain('application/json');
    const body = (await single.json()) as RpcBody;
    expect(body.id).toBe(7);
    expect(textOf(body.result)).toBe('one');

    const batch = await rawPost(front.url, [call('a' as unknown as number, 'echo', { text: 'A' }), call(8, 'echo', { text: 'B' })], h);
    const arr = (await batch.json()) as RpcBody[];
    expect(arr.map((r) => [r.id, textOf(r.result)]).sort()).toEqual([
      [8, 'B'],
      ['a', 'A'],
    ]);
  });

  it('negotiates the protocol version in initialize', async () => {
    const { front } = await setup();
    const init = async (v: string): Promise<string> => {
      const res = await rawPost(front.url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: v, capabilities: {}, clientInfo: { name: 'x', version: '0' } } });
      const sid = res.headers.get('mcp-session-id');
      expect(sid).toMatch(/^[\x21-\x7e]+$/);
      return String(((await res.json()) as RpcBody).result?.protocolVersion);
    };
    expect(await init('2025-03-26')).toBe('2025-03-26');
    expect(await init('2025-11-25')).toBe('2025-11-25');
    expect(await init('2099-01-01')).toBe('2025-11-25');
  });

  it('switches to SSE with a keepalive when the answer takes long, and streams progress', async () => {
    const { front } = await setup({ timing: { sseAfterMs: 100 } });
    const sid = await rawInitialize(front.url);
    const res = await rawPost(front.url, call(9, 'slow', { ms: 400, steps: 1 }), { 'mcp-session-id': sid });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(text).toContain(': keepalive');
    const msgs = sseMessages(text) as RpcBody[];
    expect(msgs.at(-1)?.id).toBe(9);

    const withProgress = await rawPost(front.url, call(10, 'slow', { ms: 100, steps: 2 }, { progressToken: 'tok-1' }), { 'mcp-session-id': sid });
    expect(withProgress.headers.get('content-type')).toContain('text/event-stream');
    const events = sseMessages(await withProgress.text()) as { method?: string; params?: { progressToken?: unknown }; id?: unknown }[];
    expect(events.filter((e) => e.method === 'notifications/progress').map((e) => e.params?.progressToken)).toEqual(['tok-1', 'tok-1']);
    expect(events.at(-1)?.id).toBe(10);
  });
});

describe('Streamable HTTP transport: sessions', () => {
  it('ends a session on DELETE; the id then gets 404', async () => {
    const { front, bridge } = await setup();
    const sid = await rawInitialize(front.url);
    const del = await fetch(front.url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    expect(del.status).toBe(204);
    expect(bridge.stats().sessions).toBe(0);
    const again = await rawPost(front.url, call(2, 'echo', { text: 'x' }), { 'mcp-session-id': sid });
    expect(again.status).toBe(404);
  });

  it('expires idle sessions, but not one with an open GET stream', async () => {
    const { front, bridge } = await setup({ limits: { ...LIMITS, idleTimeoutMs: 300 } });
    const idle = await rawInitialize(front.url);
    const kept = await rawInitialize(front.url);
    const stream = await openGetStream(front.url, kept);
    cleanups.push(async () => stream.close());
    expect(stream.status).toBe(200);
    await waitFor(() => bridge.stats().sessions === 1, 3000, 'idle expiry');
    const res = await rawPost(front.url, call(2, 'echo', { text: 'x' }), { 'mcp-session-id': idle });
    expect(res.status).toBe(404);
    const ok = await rawPost(front.url, call(2, 'echo', { text: 'x' }), { 'mcp-session-id': kept });
    expect(ok.status).toBe(200);
  });

  it('refuses initialize with 503 at maxSessions when no session is idle (each has a GET stream open)', async () => {
    const { front } = await setup({ limits: { ...LIMITS, maxSessions: 2 } });
    for (const sid of [await rawInitialize(front.url), await rawInitialize(front.url)]) {
      const stream = await openGetStream(front.url, sid);
      cleanups.push(async () => stream.close());
    }
    const res = await rawPost(front.url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '0' } } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as RpcBody).error?.code).toBe(-32011);
  });

  it('answers a request with no upstream answer with a timeout error and cancels it upstream', async () => {
    const { front } = await setup({ limits: { ...LIMITS, requestTimeoutMs: 300 } });
    const sid = await rawInitialize(front.url);
    const res = await rawPost(front.url, call(3, 'slow', { ms: 3000, steps: 1 }), { 'mcp-session-id': sid });
    const body = (await res.json()) as RpcBody;
    expect(body).toMatchObject({ id: 3, error: { code: -32001 } });
    const stats = await rawPost(front.url, call(4, 'stats', {}), { 'mcp-session-id': sid });
    expect(JSON.parse(textOf(((await stats.json()) as RpcBody).result))).toMatchObject({ aborted: 1 });
  });

  it('buffers messages for a session without a GET stream and flushes them when it opens; a second GET replaces the first', async () => {
    const { front } = await setup();
    const a = await rawInitialize(front.url);
    const b = await rawInitialize(front.url);
    await rawPost(front.url, call(2, 'log', { message: 'while closed' }), { 'mcp-session-id': a });
    const first = await openGetStream(front.url, b);
    cleanups.push(async () => first.close());
    await waitFor(() => first.messages.length === 1, 3000, 'flushed message');
    expect(first.messages[0]).toMatchObject({ method: 'notifications/message', params: { data: 'while closed' } });
    const second = await openGetStream(front.url, b);
    cleanups.push(async () => second.close());
    await first.closed;
    await rawPost(front.url, call(3, 'log', { message: 'live' }), { 'mcp-session-id': a });
    await waitFor(() => second.messages.length === 1, 3000, 'live message on the new stream');
    expect(first.messages.length).toBe(1);
  });

  it('sends keepalive comments on idle GET streams', async () => {
    const { front } = await setup({ timing: { keepaliveMs: 100 } });
    const sid = await rawInitialize(front.url);
    const stream = await openGetStream(front.url, sid);
    cleanups.push(async () => stream.close());
    await waitFor(() => stream.text().includes(': keepalive'), 3000, 'keepalive');
  });

  it('forwards resources/subscribe once per uri and routes resources/updated to subscribers', async () => {
    const { front } = await setup();
    const [a, b, c] = await Promise.all([rawInitialize(front.url), rawInitialize(front.url), rawInitialize(front.url)]);
    const sub = (sid: string, method: string, id: number): Promise<Response> => rawPost(front.url, { jsonrpc: '2.0', id, method, params: { uri: 'mem://counter' } }, { 'mcp-session-id': sid });
    expect((await sub(a, 'resources/subscribe', 2)).status).toBe(200);
    expect((await sub(b, 'resources/subscribe', 2)).status).toBe(200);
    const streams = await Promise.all([a, b, c].map((s) => openGetStream(front.url, s)));
    cleanups.push(async () => streams.forEach((s) => s.close()));
    await rawPost(front.url, call(3, 'touch', { uri: 'mem://counter' }), { 'mcp-session-id': c });
    await waitFor(() => streams[0]!.messages.length === 1 && streams[1]!.messages.length === 1, 3000, 'resources/updated');
    expect(streams[2]!.messages.length).toBe(0);
    const stats = async (): Promise<{ subscribeCalls: number; unsubscribeCalls: number }> =>
      JSON.parse(textOf(((await (await rawPost(front.url, call(9, 'stats', {}), { 'mcp-session-id': c })).json()) as RpcBody).result));
    expect(await stats()).toMatchObject({ subscribeCalls: 1, unsubscribeCalls: 0 });
    await sub(a, 'resources/unsubscribe', 4);
    expect(await stats()).toMatchObject({ subscribeCalls: 1, unsubscribeCalls: 0 });
    await fetch(front.url, { method: 'DELETE', headers: { 'mcp-session-id': b } });
    await new Promise((r) => setTimeout(r, 100));
    expect(await stats()).toMatchObject({ subscribeCalls: 1, unsubscribeCalls: 1 });
  });

  it('refuses a server-to-client request for a feature the session did not declare, and roots in shared mode', async () => {
    const { front, logs } = await setup();
    const sid = await rawInitialize(front.url);
    const res = await rawPost(front.url, call(2, 'sample', { prompt: 'hi' }), { 'mcp-session-id': sid });
    const body = (await res.json()) as RpcBody;
    expect(textOf(body.result)).toMatch(/did not declare the sampling capability/);
    const roots = (await (await rawPost(front.url, call(3, 'roots', {}), { 'mcp-session-id': sid })).json()) as RpcBody;
    expect(textOf(roots.result)).toMatch(/isolated mode/);
    expect(logs.some((l) => l.includes('roots/list'))).toBe(true);
  });
});

describe('stdio framing through the bridge', () => {
  it('carries a 20 MB single-line response and ignores stdout noise', async () => {
    const { front, logs, bridge } = await setup({}, RAW_SERVER);
    const sid = await rawInitialize(front.url);
    const res = await rawPost(front.url, call(2, 'big', {}), { 'mcp-session-id': sid });
    const body = (await res.json()) as RpcBody;
    expect(textOf(body.result).length).toBe(20 * 1024 * 1024);
    expect(logs.some((l) => l.includes('not JSON'))).toBe(true);
    expect((await bridge.probe(2000)).tools).toEqual([{ name: 'big' }]);
  });

  it('drops a line over maxLineBytes with a log line; the request fails with RESPONSE_TOO_LARGE', async () => {
    const { front, logs } = await setup({ maxLineBytes: 1024 * 1024, limits: { ...LIMITS, requestTimeoutMs: 1500 } }, RAW_SERVER);
    const sid = await rawInitialize(front.url);
    const res = await rawPost(front.url, call(2, 'big', {}), { 'mcp-session-id': sid });
    expect(((await res.json()) as RpcBody).error?.code).toBe(-32013);
    await waitFor(() => logs.some((l) => l.includes('over the line limit')), 5000, 'the log line');
  });
});
