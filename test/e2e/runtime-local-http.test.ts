import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { describe, expect, it } from 'vitest';
import { CLIENTS, textOf, type ToolResult } from '../support/clients.js';
import { echoSpec, everythingSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

// BERTH_RUNTIME=local-http: every server runs behind its own `berth bridge` on a 127.0.0.1 port and Berth
// proxies to it over HTTP, as it will to containers. No container engine is involved.
const ctx = useBerth({ env: { BERTH_RUNTIME: 'local-http' } });

describe('deployments on the local-http runtime (HTTP workloads, no container engine)', () => {
  it('deploys through Berth and serves tool calls from both SDKs and legacy SSE through the workload’s bridge', async () => {
    const d = await ctx.api.deploy(everythingSpec('everything-http', { BERTH_TEST_MARK: 'over-http' }));
    await ctx.api.waitFor(d.id);
    for (const [, connect] of CLIENTS) {
      const c = await connect(d.endpoint, ctx.berth.authHeaders());
      try {
        expect(textOf(await c.call('echo', { message: `via ${c.sdk}` }))).toContain(`via ${c.sdk}`);
        expect(textOf(await c.call('get-env'))).toContain('"BERTH_TEST_MARK": "over-http"');
      } finally {
        await c.close();
      }
    }
    const legacy = new ClientV1({ name: 'local-http-sse', version: '1.0.0' });
    await legacy.connect(new SSEClientTransport(new URL(d.endpoint.replace(/\/mcp$/, '/sse')), { requestInit: { headers: ctx.berth.authHeaders() }, eventSourceInit: { fetch: (u, i) => fetch(u, { ...i, headers: { ...(i?.headers as Record<string, string>), ...ctx.berth.authHeaders() } }) } }));
    try {
      expect(textOf((await legacy.callTool({ name: 'echo', arguments: { message: 'legacy' } })) as ToolResult)).toContain('legacy');
    } finally {
      await legacy.close();
    }
    // It really is an HTTP workload: its log has the bridge program's lines, on a loopback port of its own.
    const logs = await ctx.api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${d.id}/logs?tail=500`);
    expect(logs.body.items.map((e) => e.line).join('\n')).toMatch(/berth bridge: listening on http:\/\/127\.0\.0\.1:\d+/);
    // The bridge's token is Berth's to send: the server's environment does not carry it.
    const c = await CLIENTS[0]![1](d.endpoint, ctx.berth.authHeaders());
    try {
      expect(textOf(await c.call('get-env'))).not.toContain('BERTH_BRIDGE_TOKEN');
    } finally {
      await c.close();
    }
  });

  it('runs an isolated deployment as an isolated bridge inside the workload: one server process per session', async () => {
    const d = await ctx.api.deploy(echoSpec('echo-isolated-http', [], {}, { mode: 'isolated', isolated: { warm: 1, max_sessions: 4 } }));
    await ctx.api.waitFor(d.id);
    const [a, b] = await Promise.all(CLIENTS.map(([, connect]) => connect(d.endpoint, ctx.berth.authHeaders())));
    try {
      const [pa, pb] = await Promise.all([a!.call('whoami'), b!.call('whoami')]);
      expect(textOf(pa)).toMatch(/^\d+$/);
      expect(textOf(pa)).not.toBe(textOf(pb));
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });
});
