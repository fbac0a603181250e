import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  CreateMessageRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { createIsolatedBridge } from '../bridge/isolated.js';
import { createSharedBridge } from '../bridge/shared.js';
import type { BridgeOptions, McpEndpoint } from '../types.js';
import { ECHO_SERVER, FAST_RESTART, LIMITS, nodeSpawner, rawPost, serveEndpoint, textOf, waitFor } from '../testing/helpers.js';
import type { HttpFront } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(mode: 'shared' | 'isolated', over: Partial<BridgeOptions> = {}): Promise<{ bridge: McpEndpoint; front: HttpFront }> {
  const spawner = nodeSpawner(ECHO_SERVER);
  const base = { deploymentId: 'legacy', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS, ...over };
  const bridge = mode === 'shared' ? createSharedBridge(base) : createIsolatedBridge({ ...base, isolated: { warm: 1, max: 4 } });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { bridge, front };
}

async function connectSse(url: string, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client({ name: 'sse-client', version: '1.0.0' }, { capabilities });
  await client.connect(new SSEClientTransport(new URL(url)));
  cleanups.push(() => client.close());
  return client;
}

for (const mode of ['shared', 'isolated'] as const) {
  describe(`legacy HTTP+SSE (2024-11-05) over the ${mode} bridge`, () => {
    it('serves tools, resources, progress, logging, list_changed and cancellation', async () => {
      const h = await setup(mode);
      const client = await connectSse(h.front.sseUrl);
      expect(client.getServerVersion()?.name).toBe('berth-echo');
      expect(h.bridge.stats().sessions).toBe(1);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain('echo');
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'old school' } }))).toBe('old school');

      const seen: number[] = [];
      await client.callTool({ name: 'slow', arguments: { ms: 300, steps: 3 } }, undefined, { onprogress: (p) => seen.push(p.progress) });
      // The SDK's SSE client may handle the final progress after the result when both arrive in one chunk.
      expect(seen.slice(0, 2)).toEqual([1, 2]);

      let changed = 0;
      const logs: unknown[] = [];
      const updated: string[] = [];
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
        changed++;
      });
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
        logs.push(n.params.data);
      });
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
        updated.push(n.params.uri);
      });
      await client.subscribeResource({ uri: 'mem://counter' });
      await client.callTool({ name: 'add_tool', arguments: {} });
      await client.callTool({ name: 'log', arguments: { message: 'via sse' } });
      await client.callTool({ name: 'touch', arguments: { uri: 'mem://counter' } });
      await waitFor(() => changed === 1 && logs.length === 1 && updated.length === 1, 5000, 'notifications');
      expect(logs).toEqual(['via sse']);

      const ac = new AbortController();
      const slow = client.callTool({ name: 'slow', arguments: { ms: 5000 } }, undefined, { signal: ac.signal });
      await new Promise((r) => setTimeout(r, 300));
      ac.abort('stop');
      await expect(slow).rejects.toThrow();
      await waitFor(() => h.bridge.stats().inFlight === 0, 3000, 'cancel');
      const stats = JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} }))) as { aborted: number };
      expect(stats.aborted).toBe(1);

      await client.close();
      await waitFor(() => h.bridge.stats().sessions === 0, 3000, 'session to end with the stream');
    });

    it('refuses unknown sessions and enforces the session limit', async () => {
      const h = await setup(mode, { limits: { ...LIMITS, maxSessions: 1 } });
      const base = h.front.sseUrl.replace(/\/sse$/, '');
      const bad = await fetch(`${base}/message?sessionId=nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(bad.status).toBe(404);
      await connectSse(h.front.sseUrl);
      const second = await fetch(h.front.sseUrl, { headers: { accept: 'text/event-stream' } });
      expect(second.status).toBe(503);
      await second.text();
    });
  });
}

describe('legacy HTTP+SSE server-to-client requests', () => {
  it('routes sampling to the SSE client in isolated mode', async () => {
    const h = await setup('isolated');
    const client = await connectSse(h.front.sseUrl, { sampling: {} });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 't', content: { type: 'text', text: 'from sse' } }));
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'q' } }))).toBe('from sse');
  });
});

describe('older Streamable HTTP revisions', () => {
  for (const mode of ['shared', 'isolated'] as const) {
    it(`negotiates 2025-06-18, 2025-03-26 and 2024-11-05 and serves each (${mode})`, async () => {
      const h = await setup(mode);
      for (const v of ['2025-06-18', '2025-03-26', '2024-11-05']) {
        const init = await rawPost(h.front.url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: v, capabilities: {}, clientInfo: { name: 'old', version: '0' } } });
        const body = (await init.json()) as { result: { protocolVersion: string } };
        expect(body.result.protocolVersion).toBe(v);
        const sid = init.headers.get('mcp-session-id')!;
        // 2025-03-26 clients send no MCP-Protocol-Version header; later ones do.
        const versionHeader: Record<string, string> = v === '2025-03-26' ? {} : { 'mcp-protocol-version': v };
        await rawPost(h.front.url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sid, ...versionHeader });
        const res = await rawPost(h.front.url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: v } } }, { 'mcp-session-id': sid, ...versionHeader });
        expect(textOf(((await res.json()) as { result: unknown }).result)).toBe(v);
      }
    });
  }
});
