import { afterEach, describe, expect, it } from 'vitest';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { createIsolatedBridge } from '../bridge/isolated.js';
import { createSharedBridge } from '../bridge/shared.js';
import type { IsolatedBridgeOptions } from '../types.js';
import { alive, ECHO_SERVER, EVERYTHING_SERVER, FAST_RESTART, LIMITS, nodeSpawner, rawPost, serveEndpoint, textOf, waitFor } from '../testing/helpers.js';
import type { HttpFront, NodeSpawner } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(over: Partial<IsolatedBridgeOptions> = {}): Promise<{ front: HttpFront; spawner: NodeSpawner; stats: () => { processes: number; inFlight: number } }> {
  const spawner = nodeSpawner(ECHO_SERVER);
  const bridge = createIsolatedBridge({ deploymentId: 'mrtr', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS, isolated: { warm: 1, max: 4 }, ...over });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { front, spawner, stats: () => bridge.stats() };
}

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': { sampling: {} },
};
const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'sample' };

/** Taps a connected SDK 2.x transport: the progress notifications that arrive, and the progress tokens its requests send. */
function tapProgress(transport: Transport2): { wire: { progress: unknown; progressToken: unknown }[]; sent: unknown[] } {
  const wire: { progress: unknown; progressToken: unknown }[] = [];
  const sent: unknown[] = [];
  const sdk = transport.onmessage!;
  transport.onmessage = (m: Parameters<typeof sdk>[0]) => {
    const msg = m as { method?: string; params?: { progress?: unknown; progressToken?: unknown } };
    if (msg.method === 'notifications/progress') wire.push({ progress: msg.params?.progress, progressToken: msg.params?.progressToken });
    sdk(m);
  };
  const send = transport.send.bind(transport);
  transport.send = (m, opts) => {
    const token = (m as { params?: { _meta?: { progressToken?: unknown } } }).params?._meta?.progressToken;
    if (token !== undefined) sent.push(token);
    return send(m, opts);
  };
  return { wire, sent };
}

describe('multi round-trip requests over the isolated bridge', () => {
  it('turns sampling and roots requests into input_required rounds for a 2.x stateless client', async () => {
    const h = await setup();
    const client = new Client2({ name: 'mrtr', version: '1' }, { capabilities: { sampling: {}, roots: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const prompts: string[] = [];
    client.setRequestHandler('sampling/createMessage', async (req) => {
      const first = req.params.messages[0]?.content;
      const text = first && !Array.isArray(first) && first.type === 'text' ? first.text : '';
      prompts.push(text);
      return { role: 'assistant', model: 'test', content: { type: 'text', text: `sampled:${text}` } };
    });
    client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///tmp/a' }] }));
    await client.connect(new Transport2(new URL(h.front.url)));
    cleanups.push(() => client.close());
    expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'hi' } }))).toBe('sampled:hi');
    expect(prompts).toEqual(['hi']);
    expect(textOf(await client.callTool({ name: 'roots', arguments: {} }))).toBe('file:///tmp/a');
    await waitFor(() => h.stats().inFlight === 0, 3000, 'calls to finish');
    // Per-call processes are stopped once the call completes.
    await waitFor(() => h.spawner.procs.filter((p) => alive(p.pid)).length <= 2, 5000, 'per-call processes to stop');
  });

  it('keeps the progress a call sends while it waits for the client between rounds (SDK 2.x client, wire tapped)', async () => {
    // The server sends progress 2 right behind its roots request: it reaches Berth after the input_required
    // answer went out and before the client's retry. It must ride on the retry's stream, in order.
    const h = await setup();
    const client = new Client2({ name: 'mrtr', version: '1' }, { capabilities: { roots: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    client.setRequestHandler('roots/list', async () => ({ roots: [{ uri: 'file:///tmp/p' }] }));
    const transport = new Transport2(new URL(h.front.url));
    await client.connect(transport);
    cleanups.push(() => client.close());
    const { wire, sent } = tapProgress(transport);
    const r = await client.callTool({ name: 'roots_with_progress', arguments: {} }, { onprogress: () => {} });
    expect(textOf(r)).toBe('file:///tmp/p');
    expect(wire.map((n) => n.progress)).toEqual([1, 2, 3]);
    // Each under the token of the request that carried it: the call's, then its retry's (the SDK gives the retry
    // one of its own; the process still knows only the first, so Berth rewrites it).
    expect(sent).toHaveLength(2);
    expect(wire.map((n) => n.progressToken)).toEqual([sent[0], sent[1], sent[1]]);
  });

  it('keeps every progress of an everything-server call that its roots request interrupts (the matrix flake)', async () => {
    // server-everything asks for roots 350 ms after initialized. A 2026-07-28 call still running then gets an
    // input_required round; with progress every millisecond, some come while the call waits for the retry.
    const spawner = nodeSpawner(EVERYTHING_SERVER, ['stdio']);
    const bridge = createIsolatedBridge({ deploymentId: 'ev', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS, isolated: { warm: 1, max: 4 } });
    cleanups.push(() => spawner.stopAll());
    cleanups.push(() => bridge.close());
    await bridge.start();
    const front = await serveEndpoint(bridge);
    cleanups.push(() => front.close());
    const client = new Client2({ name: 'matrix-like', version: '1' }, { capabilities: { roots: { listChanged: true } }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    let asked = 0;
    client.setRequestHandler('roots/list', async () => {
      asked++;
      return { roots: [{ uri: 'file:///tmp/r' }] };
    });
    const transport = new Transport2(new URL(front.url));
    await client.connect(transport);
    cleanups.push(() => client.close());
    const progress: unknown[] = [];
    const sdk = transport.onmessage!;
    transport.onmessage = (m: Parameters<typeof sdk>[0]) => {
      const msg = m as { method?: string; params?: { progress?: unknown } };
      if (msg.method === 'notifications/progress') progress.push(msg.params?.progress);
      sdk(m);
    };
    const steps = 600;
    const r = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps } }, { onprogress: () => {}, timeout: 30_000 });
    expect(textOf(r)).toContain(`Steps: ${steps}`);
    expect(asked).toBe(1);
    expect(progress).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  });

  it('keeps the process waiting between rounds and drops it when no retry comes', async () => {
    // maxWarm 1: the pool stays at one process however many calls came, so the counts below are exact.
    const h = await setup({ timing: { inputRequiredTimeoutMs: 1000 }, isolated: { warm: 1, max: 4, maxWarm: 1 } });
    const res = await rawPost(h.front.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'sample', arguments: { prompt: 'raw' }, _meta: META } }, headers);
    const body = (await res.json()) as { id: number; result: { resultType: string; requestState: string; inputRequests: Record<string, { method: string }> } };
    expect(body.id).toBe(1);
    expect(body.result.resultType).toBe('input_required');
    const [key, ask] = Object.entries(body.result.inputRequests)[0]!;
    expect(ask.method).toBe('sampling/createMessage');

    const retry = await rawPost(
      h.front.url,
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: {
          name: 'sample',
          arguments: { prompt: 'raw' },
          _meta: META,
          requestState: body.result.requestState,
          inputResponses: { [key]: { role: 'assistant', model: 'm', content: { type: 'text', text: 'answer' } } },
        },
      },
      headers,
    );
    const done = (await retry.json()) as { id: number; result: Record<string, unknown> };
    expect(done.id).toBe(2);
    expect(textOf(done.result)).toBe('answer');
    expect(done.result.resultType).toBe('complete');

    const stale = await rawPost(h.front.url, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'sample', arguments: {}, _meta: META, requestState: body.result.requestState } }, headers);
    expect(((await stale.json()) as { error: { code: number } }).error.code).toBe(-32602);

    // No retry: the parked process is stopped after the timeout.
    const first = await rawPost(h.front.url, { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'sample', arguments: { prompt: 'x' }, _meta: META } }, headers);
    expect(((await first.json()) as { result: { resultType: string } }).result.resultType).toBe('input_required');
    await waitFor(() => h.stats().processes === 2, 3000, 'pool refill next to the parked process');
    await waitFor(() => h.stats().processes === 1, 5000, 'parked process to stop');
  });
});

describe('shared mode and client features', () => {
  it('asks a stateless client for sampling (input_required), refuses roots, logs that the deployment must run isolated and raises onNeedsIsolation once', async () => {
    const spawner = nodeSpawner(ECHO_SERVER);
    const logs: string[] = [];
    const reasons: string[] = [];
    const bridge = createSharedBridge({
      deploymentId: 'sh',
      spawn: spawner.spawn,
      restart: FAST_RESTART,
      limits: LIMITS,
      log: (l) => logs.push(l),
      events: { onNeedsIsolation: (r) => reasons.push(r) },
    });
    cleanups.push(() => spawner.stopAll());
    cleanups.push(() => bridge.close());
    await bridge.start();
    const front = await serveEndpoint(bridge);
    cleanups.push(() => front.close());
    const client = new Client2({ name: 'm', version: '1' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 't', content: { type: 'text', text: 'sampled in shared mode' } }));
    await client.connect(new Transport2(new URL(front.url)));
    cleanups.push(() => client.close());
    const r = await client.callTool({ name: 'sample', arguments: { prompt: 'x' } });
    expect(textOf(r)).toBe('sampled in shared mode');
    expect(reasons).toEqual([]);
    const roots = await client.callTool({ name: 'roots', arguments: {} });
    expect(textOf(roots)).toMatch(/isolated mode/);
    await client.callTool({ name: 'roots', arguments: {} });
    expect(reasons.length).toBe(1);
    expect(reasons[0]).toMatch(/roots\/list/);
    expect(logs.some((l) => l.includes('run the deployment in isolated mode'))).toBe(true);
  });

  it("keeps a stateless call's progress across its input_required round on a shared process, under the retry's token", async () => {
    const spawner = nodeSpawner(ECHO_SERVER);
    const bridge = createSharedBridge({ deploymentId: 'shp', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS });
    cleanups.push(() => spawner.stopAll());
    cleanups.push(() => bridge.close());
    await bridge.start();
    const front = await serveEndpoint(bridge);
    cleanups.push(() => front.close());
    const client = new Client2({ name: 'shp', version: '1' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 't', content: { type: 'text', text: 'sampled' } }));
    const transport = new Transport2(new URL(front.url));
    await client.connect(transport);
    cleanups.push(() => client.close());
    const { wire, sent } = tapProgress(transport);
    const r = await client.callTool({ name: 'sample_with_progress', arguments: {} }, { onprogress: () => {} });
    expect(textOf(r)).toBe('sampled');
    expect(wire.map((n) => n.progress)).toEqual([1, 2, 3]);
    expect(sent).toHaveLength(2);
    expect(wire.map((n) => n.progressToken)).toEqual([sent[0], sent[1], sent[1]]);
  });
});
