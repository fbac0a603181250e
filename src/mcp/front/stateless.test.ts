import { afterEach, describe, expect, it } from 'vitest';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { createIsolatedBridge } from '../bridge/isolated.js';
import { createSharedBridge } from '../bridge/shared.js';
import type { BridgeOptions, McpEndpoint } from '../types.js';
import { ECHO_SERVER, FAST_RESTART, LIMITS, nodeSpawner, rawInitialize, rawPost, serveEndpoint, sseMessages, textOf, waitFor } from '../testing/helpers.js';
import type { HttpFront, NodeSpawner } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Mode = 'shared' | 'isolated';

interface Harness {
  bridge: McpEndpoint;
  front: HttpFront;
  spawner: NodeSpawner;
}

async function setup(mode: Mode, over: Partial<BridgeOptions> = {}): Promise<Harness> {
  const spawner = nodeSpawner(ECHO_SERVER);
  const base = { deploymentId: 'st', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS, ...over };
  const bridge = mode === 'shared' ? createSharedBridge(base) : createIsolatedBridge({ ...base, isolated: { warm: 1, max: 4 } });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { bridge, front, spawner };
}

async function connectModern(url: string, capabilities: Record<string, unknown> = {}): Promise<Client2> {
  const client = new Client2({ name: 'sdk2-modern', version: '2.0.0' }, { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new Transport2(new URL(url)));
  cleanups.push(() => client.close());
  return client;
}

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};
const H = { 'mcp-protocol-version': '2026-07-28' };

interface RpcBody {
  id: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

for (const mode of ['shared', 'isolated'] as const) {
  describe(`revision 2026-07-28 over the ${mode} bridge`, () => {
    it('serves a pinned 2.x client: discover, tools, resources, prompts-less server, progress', async () => {
      const h = await setup(mode);
      const client = await connectModern(h.front.url);
      expect(client.getServerVersion()?.name).toBe('berth-echo');
      expect(client.getDiscoverResult()?.supportedVersions).toEqual(['2026-07-28']);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'modern' } }))).toBe('modern');
      const seen: number[] = [];
      const r = await client.callTool({ name: 'slow', arguments: { ms: 100, steps: 2 } }, { onprogress: (p) => seen.push(p.progress) });
      expect(textOf(r)).toBe('slept 100');
      expect(seen).toEqual([1, 2]);
      const read = await client.readResource({ uri: 'mem://counter' });
      expect(read.contents[0]).toMatchObject({ uri: 'mem://counter' });
    });

    it('refuses bad stateless requests the way the spec says', async () => {
      const h = await setup(mode);
      const url = h.front.url;
      const call = (meta: Record<string, unknown> | undefined, headers: Record<string, string>, name = 'echo'): Promise<Response> =>
        rawPost(url, { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name, arguments: { text: 'x' }, ...(meta ? { _meta: meta } : {}) } }, headers);

      const ok = await call(META, { ...H, 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
      expect(ok.status).toBe(200);
      const okBody = (await ok.json()) as RpcBody;
      expect(textOf(okBody.result)).toBe('x');
      expect(okBody.result?.resultType).toBe('complete');
      expect(ok.headers.get('mcp-session-id')).toBeNull();

      const wrongName = await call(META, { ...H, 'mcp-method': 'tools/call', 'mcp-name': 'other' });
      expect(wrongName.status).toBe(400);
      expect(((await wrongName.json()) as RpcBody).error?.code).toBe(-32020);

      const wrongMethod = await call(META, { ...H, 'mcp-method': 'tools/list', 'mcp-name': 'echo' });
      expect(wrongMethod.status).toBe(400);
      expect(((await wrongMethod.json()) as RpcBody).error).toMatchObject({ code: -32020, data: { mismatch: { header: 'tools/list' } } });

      const wrongVersion = await call(META, { 'mcp-protocol-version': '2025-11-25', 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
      expect(wrongVersion.status).toBe(400);
      expect(((await wrongVersion.json()) as RpcBody).error?.code).toBe(-32020);

      const noMethodHeader = await call(META, { ...H, 'mcp-name': 'echo' });
      expect(noMethodHeader.status).toBe(400);
      expect(((await noMethodHeader.json()) as RpcBody).error?.code).toBe(-32020);

      const b64 = await call(META, { ...H, 'mcp-method': 'tools/call', 'mcp-name': `=?base64?${Buffer.from('echo').toString('base64')}?=` });
      expect(b64.status).toBe(200);

      const noMeta = await call(undefined, { ...H, 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
      expect(noMeta.status).toBe(400);
      expect(((await noMeta.json()) as RpcBody)).toMatchObject({ id: 5, error: { code: -32602 } });

      const { 'io.modelcontextprotocol/clientCapabilities': _caps, ...noCaps } = META;
      const missingCaps = await call(noCaps, { ...H, 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
      expect(missingCaps.status).toBe(400);
      expect(((await missingCaps.json()) as RpcBody).error?.code).toBe(-32602);

      const future = await call({ ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }, { 'mcp-protocol-version': '2099-01-01', 'mcp-method': 'tools/call', 'mcp-name': 'echo' });
      expect(future.status).toBe(400);
      expect(((await future.json()) as RpcBody).error).toMatchObject({ code: -32022, data: { supported: ['2026-07-28'] } });

      const get = await fetch(url, { headers: { accept: 'text/event-stream', ...H } });
      expect(get.status).toBe(405);

      const disc = await rawPost(url, { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: META } }, { ...H, 'mcp-method': 'server/discover' });
      expect(disc.status).toBe(200);
      const d = (await disc.json()) as RpcBody;
      expect(d.result).toMatchObject({
        supportedVersions: ['2026-07-28'],
        capabilities: { tools: { listChanged: true }, resources: { subscribe: true } },
        resultType: 'complete',
        ttlMs: 0,
        cacheScope: 'private',
        _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'berth-echo' } },
      });

      const list = await rawPost(url, { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: META } }, { ...H, 'mcp-method': 'tools/list' });
      expect(((await list.json()) as RpcBody).result).toMatchObject({ resultType: 'complete', ttlMs: 0, cacheScope: 'private' });

      // The same endpoint still serves 2025-11-25 sessions.
      const sid = await rawInitialize(url);
      const legacy = await rawPost(url, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'old' } } }, { 'mcp-session-id': sid });
      const lb = (await legacy.json()) as RpcBody;
      expect(textOf(lb.result)).toBe('old');
      expect(lb.result?.resultType).toBeUndefined();
    });

    it('cancels a stateless request when the client aborts it', async () => {
      const h = await setup(mode);
      const client = await connectModern(h.front.url);
      const ac = new AbortController();
      const call = client.callTool({ name: 'slow', arguments: { ms: 5000 } }, { signal: ac.signal });
      await new Promise((r) => setTimeout(r, 500));
      ac.abort('stop');
      await expect(call).rejects.toThrow();
      await waitFor(() => h.bridge.stats().inFlight === 0, 5000, 'in-flight to drain');
      if (mode === 'shared') {
        const stats = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))) as { aborted: number };
        expect(stats.aborted).toBe(1);
      }
    });

    it('streams progress for a raw request with a token', async () => {
      const h = await setup(mode, { timing: { sseAfterMs: 50 } });
      const res = await rawPost(
        h.front.url,
        { jsonrpc: '2.0', id: 'p', method: 'tools/call', params: { name: 'slow', arguments: { ms: 200, steps: 2 }, _meta: { ...META, progressToken: 'tok' } } },
        { ...H, 'mcp-method': 'tools/call', 'mcp-name': 'slow' },
      );
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const events = sseMessages(await res.text()) as { method?: string; id?: unknown; params?: { progressToken?: unknown }; result?: { resultType?: string } }[];
      expect(events.filter((e) => e.method === 'notifications/progress').map((e) => e.params?.progressToken)).toEqual(['tok', 'tok']);
      expect(events.at(-1)).toMatchObject({ id: 'p', result: { resultType: 'complete' } });
    });
  });
}

describe('revision 2026-07-28 notifications (shared bridge)', () => {
  it('delivers list_changed, resources/updated and logging on subscriptions/listen', async () => {
    const h = await setup('shared');
    const client = await connectModern(h.front.url);
    let changed = 0;
    const updated: string[] = [];
    const logs: unknown[] = [];
    client.setNotificationHandler('notifications/tools/list_changed', () => {
      changed++;
    });
    client.setNotificationHandler('notifications/resources/updated', (n) => {
      updated.push(n.params.uri);
    });
    client.setNotificationHandler('notifications/message', (n) => {
      logs.push(n.params.data);
    });
    const sub = await client.listen({ toolsListChanged: true, resourceSubscriptions: ['mem://counter'] });
    expect(sub.honoredFilter).toEqual({ toolsListChanged: true, resourceSubscriptions: ['mem://counter'] });
    const stats = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))) as { subscribeCalls: number };
    expect(stats.subscribeCalls).toBe(1);
    await client.callTool({ name: 'add_tool', arguments: {} });
    await client.callTool({ name: 'touch', arguments: { uri: 'mem://counter' } });
    await client.callTool({ name: 'log', arguments: { message: 'to listeners' } });
    await waitFor(() => changed === 1 && updated.length === 1 && logs.length === 1, 5000, 'notifications on the listen stream');
    expect(updated).toEqual(['mem://counter']);
    expect(logs).toEqual(['to listeners']);
    await sub.close();
    let unsubscribed = 0;
    for (let i = 0; i < 50 && unsubscribed === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      unsubscribed = (JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))) as { unsubscribeCalls: number }).unsubscribeCalls;
    }
    expect(unsubscribed).toBe(1);
  });
});
