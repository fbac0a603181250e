import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as Client2, StreamableHTTPClientTransport as Transport2 } from '@modelcontextprotocol/client';
import { createSharedBridge } from './shared.js';
import { ECHO_SERVER, FAST_RESTART, LIMITS, nodeSpawner, serveEndpoint, textOf } from '../testing/helpers.js';

// The matrix's SDK 1.x stdio server: `sample`, `elicit` and `roots` ask the client; `slow` keeps a call in flight.
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/matrix/stdio-v1.mjs', import.meta.url));
// Asks its client `count` things at once (ask_many) and reports the first refusal.
const ASKING = fileURLToPath(new URL('../testing/mcp-asking-server.mjs', import.meta.url));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(script = FIXTURE, clientFeatures?: boolean): Promise<{ url: string; isolate: string[] }> {
  const spawner = nodeSpawner(script);
  const isolate: string[] = [];
  const bridge = createSharedBridge({ deploymentId: 'asks', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS, events: { onNeedsIsolation: (r) => isolate.push(r) }, ...(clientFeatures === undefined ? {} : { clientFeatures }) });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { url: front.url, isolate };
}

/** An SDK 1.x client that declares sampling and answers every sampling request with `answer` (counting them). */
async function sampler(url: string, answer: string): Promise<{ client: Client; asked: string[] }> {
  const asked: string[] = [];
  const client = new Client({ name: answer, version: '1.0.0' }, { capabilities: { sampling: {} } });
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    const c = req.params.messages[0]?.content;
    asked.push(c && 'text' in c ? String(c.text) : '');
    return { model: 'test', role: 'assistant', content: { type: 'text', text: answer } };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  cleanups.push(() => client.close());
  return { client, asked };
}

describe('shared mode: server requests go to the one certain client', () => {
  it('routes sampling to the only session with a call in flight, among several open ones', async () => {
    const { url } = await setup();
    const a = await sampler(url, 'from A');
    const b = await sampler(url, 'from B');
    await b.client.listTools();
    const r = await a.client.callTool({ name: 'sample', arguments: { prompt: 'for A' } });
    expect(textOf(r)).toBe('from A');
    const r2 = await b.client.callTool({ name: 'sample', arguments: { prompt: 'for B' } });
    expect(textOf(r2)).toBe('from B');
    expect(a.asked).toEqual(['for A']);
    expect(b.asked).toEqual(['for B']);
  });

  it('refuses, never guesses, while calls of two sessions are in flight; status hears it', async () => {
    const { url, isolate } = await setup();
    const a = await sampler(url, 'from A');
    const b = await sampler(url, 'from B');
    const slow = a.client.callTool({ name: 'slow', arguments: { ms: 1500, steps: 1 } });
    await new Promise((r) => setTimeout(r, 300));
    const refused = await b.client.callTool({ name: 'sample', arguments: { prompt: 'while A waits' } });
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toMatch(/-32601/);
    expect(textOf(refused)).toMatch(/requests of 2 client sessions are in progress.*isolated mode/);
    expect(textOf(await slow)).toBe('slept 1500');
    expect(a.asked).toEqual([]);
    expect(b.asked).toEqual([]);
    expect(isolate).toHaveLength(1);
    expect(isolate[0]).toMatch(/sampling\/createMessage/);
    // Once A's call is over, B is the only caller again.
    expect(textOf(await b.client.callTool({ name: 'sample', arguments: { prompt: 'after' } }))).toBe('from B');
    expect(b.asked).toEqual(['after']);
  });

  it('passes elicitation to an SDK 2.x client and back', async () => {
    const { url } = await setup();
    const client = new Client2({ name: 'sdk2', version: '2.0.0' }, { capabilities: { elicitation: { form: {} } } });
    client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
    await client.connect(new Transport2(new URL(url)));
    cleanups.push(() => client.close());
    const r = await client.callTool({ name: 'elicit', arguments: { question: 'who?' } });
    expect(textOf(r)).toBe('accept Ada');
  });

  it('refuses a feature the client did not declare, and roots always', async () => {
    const { url, isolate } = await setup();
    const client = new Client({ name: 'plain', version: '1.0.0' }, { capabilities: { roots: { listChanged: true } } });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    cleanups.push(() => client.close());
    const r = await client.callTool({ name: 'sample', arguments: { prompt: 'x' } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/did not declare the sampling capability/);
    expect(isolate).toEqual([]);
    const roots = await client.callTool({ name: 'roots', arguments: {} });
    expect(roots.isError).toBe(true);
    expect(textOf(roots)).toMatch(/one client's roots would apply to every client.*isolated mode/);
    expect(isolate).toHaveLength(1);
  });

  it('lets at most 1000 wait for clients; the next is refused back to the server at once', async () => {
    const { url } = await setup(ASKING);
    let asked = 0;
    const client = new Client({ name: 'never-answers', version: '1.0.0' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, () => {
      asked++;
      return new Promise(() => {});
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    cleanups.push(() => client.close());
    const r = await client.callTool({ name: 'ask_many', arguments: { count: 1001 } }, undefined, { timeout: 20_000 });
    expect(textOf(r)).toMatch(/^refused ask-\d+-1001: .*1000 server requests already wait/);
    await expect.poll(() => asked, { timeout: 5000 }).toBe(1000);
  }, 30_000);

  it('declares the features it routes in the one handshake; with client_features false, none, and refuses them all', async () => {
    for (const features of [undefined, false]) {
      const { url, isolate } = await setup(ECHO_SERVER, features);
      const a = await sampler(url, 'from A');
      const seen = JSON.parse(textOf(await a.client.callTool({ name: 'client_info', arguments: {} }))) as { capabilities: Record<string, unknown> };
      const r = await a.client.callTool({ name: 'sample', arguments: { prompt: 'x' } });
      if (features === undefined) {
        expect(seen.capabilities).toEqual({ sampling: {}, elicitation: { form: {} } });
        expect(textOf(r)).toBe('from A');
      } else {
        expect(seen.capabilities).toEqual({});
        expect(textOf(r)).toMatch(/client_features false.*isolated mode/);
        expect(a.asked).toEqual([]);
        expect(isolate).toHaveLength(1);
      }
    }
  });
});
