import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { describe, expect, it } from 'vitest';
import { connectV1, textOf, type ToolResult } from '../support/clients.js';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

const ctx = useBerth();

async function deployRunning(spec: Parameters<typeof ctx.api.deploy>[0]): Promise<string> {
  const d = await ctx.api.deploy(spec);
  await ctx.api.waitFor(d.id);
  return d.endpoint;
}

function stateless(capabilities: Record<string, unknown> = {}) {
  return new ClientV2({ name: 'berth-e2e-stateless', version: '2.0.0' }, { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } });
}

describe('protocol revisions through the gateway', () => {
  it('serves a stateless 2026-07-28 client (2.x SDK, pinned) from a shared stdio server', async () => {
    const endpoint = await deployRunning(echoSpec('stateless-shared'));
    const client = stateless();
    await client.connect(new TransportV2(new URL(endpoint)));
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toContain('echo');
      expect(textOf((await client.callTool({ name: 'echo', arguments: { text: 'no session' } })) as ToolResult)).toBe('no session');
      const seen: number[] = [];
      await client.callTool({ name: 'slow', arguments: { ms: 200, steps: 3 } }, { onprogress: (p) => seen.push(p.progress) });
      expect(seen).toEqual([1, 2, 3]);
    } finally {
      await client.close();
    }
  });

  it('serves a legacy HTTP+SSE client (1.x SSEClientTransport) at /s/ID/sse', async () => {
    const endpoint = await deployRunning(echoSpec('legacy-sse'));
    const client = new ClientV1({ name: 'berth-e2e-sse', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(endpoint.replace(/\/mcp$/, '/sse'))));
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('whoami');
      expect(textOf((await client.callTool({ name: 'echo', arguments: { text: 'over sse' } })) as ToolResult)).toBe('over sse');
    } finally {
      await client.close();
    }
  });

  it('lets an isolated server ask a stateless client for sampling (multi round-trip) and a legacy client too', async () => {
    const endpoint = await deployRunning(echoSpec('sampler', [], {}, { mode: 'isolated', isolated: { warm: 1, max_sessions: 8 } }));
    const modern = stateless({ sampling: {} });
    modern.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 'e2e', content: { type: 'text', text: 'sampled by the 2026 client' } }));
    await modern.connect(new TransportV2(new URL(endpoint)));
    try {
      expect(textOf((await modern.callTool({ name: 'sample', arguments: { prompt: 'hi' } })) as ToolResult)).toBe('sampled by the 2026 client');
    } finally {
      await modern.close();
    }
    const session = await connectV1(endpoint);
    try {
      // A 2025 client without the sampling capability: the server's request fails, the call reports it, nothing hangs.
      const r = await session.call('sample', { prompt: 'x' }).catch((e: Error) => ({ isError: true, content: [{ type: 'text', text: e.message }] }));
      expect(r.isError).toBe(true);
    } finally {
      await session.close();
    }
  });

  it('says so when a shared server asks a client for roots (never routed in shared mode): the deployment should run isolated', async () => {
    const endpoint = await deployRunning(echoSpec('needs-isolation'));
    const id = endpoint.split('/s/')[1]!.split('/')[0]!;
    const c = await connectV1(endpoint);
    try {
      const r = await c.call('roots', {}).catch((e: Error) => ({ isError: true, content: [{ type: 'text', text: e.message }] }));
      expect(r.isError).toBe(true);
    } finally {
      await c.close();
    }
    let message: string | null = null;
    for (let i = 0; i < 30 && !message?.includes('isolated'); i++) {
      message = (await ctx.api.status(id)).status_message;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(message).toContain('isolated');
    const logs = await ctx.api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${id}/logs?tail=50`);
    expect(logs.body.items.some((e) => e.line.includes('spec.mode "isolated"'))).toBe(true);
  });

  it('primes isolated warm processes unless spec.isolated.prime is false (then the server sees the client itself)', async () => {
    const seen = async (prime: boolean | undefined): Promise<{ clientInfo?: { name?: string } }> => {
      const isolated = { warm: 1, max_sessions: 4, ...(prime === undefined ? {} : { prime }) };
      const endpoint = await deployRunning(echoSpec(`prime-${String(prime)}`, [], {}, { mode: 'isolated', isolated }));
      const c = await connectV1(endpoint);
      try {
        return JSON.parse(textOf(await c.call('client_info'))) as { clientInfo?: { name?: string } };
      } finally {
        await c.close();
      }
    };
    // Primed: the warm process was initialized by Berth before this client came.
    expect((await seen(undefined)).clientInfo?.name).toBe('berth');
    expect((await seen(false)).clientInfo?.name).toBe('berth-e2e-v1');
  });
});
