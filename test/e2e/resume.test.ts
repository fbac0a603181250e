// Resumability through a real Berth with the real SDK 1.x client: a POST stream that dies mid-call is
// resumed by the client on its own (GET + Last-Event-ID), and a call can be picked up by a new client
// with the SDK's `resumptionToken` request option.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textOf } from '../support/clients.js';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

const ctx = useBerth();
let url: string;

beforeAll(async () => {
  const d = await ctx.api.deploy(echoSpec('resume-echo'));
  await ctx.api.waitFor(d.id);
  url = d.endpoint;
});

interface Seen {
  method: string;
  lastEventId: string | null;
  body: string;
}

/**
 * A fetch that records requests and, for the first POST whose body contains `cutWhen`, lets through
 * whole SSE events until `cutAfter` progress notifications went by, then fails the body like a
 * network drop (and really closes the connection, so Berth sees it go).
 */
function cuttingFetch(seen: Seen[], cutWhen: string, cutAfter: number): typeof fetch {
  let cut = false;
  return async (input, init) => {
    const headers = new Headers(init?.headers);
    const body = typeof init?.body === 'string' ? init.body : '';
    seen.push({ method: init?.method ?? 'GET', lastEventId: headers.get('last-event-id'), body });
    if (cut || init?.method !== 'POST' || !body.includes(cutWhen)) return fetch(input, init);
    cut = true;
    const ac = new AbortController();
    init.signal?.addEventListener('abort', () => ac.abort());
    const res = await fetch(input, { ...init, signal: ac.signal });
    if (!res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) return res;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    let buf = '';
    let progress = 0;
    const wrapped = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) return controller.close();
        buf += decoder.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const event = buf.slice(0, i + 2);
          buf = buf.slice(i + 2);
          controller.enqueue(encoder.encode(event));
          if (event.includes('notifications/progress') && ++progress >= cutAfter) {
            ac.abort();
            controller.error(new TypeError('network connection lost (test)'));
            return;
          }
        }
      },
      cancel: () => ac.abort(),
    });
    return new Response(wrapped, { status: res.status, headers: res.headers });
  };
}

/** A fetch that keeps a copy of every GET's SSE body (as it streams) in `bodies`. */
function recordingFetch(bodies: { lastEventId: string | null; text: string; done: Promise<void> }[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if ((init?.method ?? 'GET') !== 'GET' || !res.body) return res;
    const [mine, theirs] = res.body.tee();
    const rec = { lastEventId: new Headers(init?.headers).get('last-event-id'), text: '', done: Promise.resolve() };
    rec.done = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of mine) rec.text += decoder.decode(chunk, { stream: true });
    })().catch(() => {});
    bodies.push(rec);
    return new Response(theirs, { status: res.status, headers: res.headers });
  };
}

/** An SDK 1.x client whose fetch cuts the `slow` call's POST stream after 2 events, with quick reconnection. */
function cuttingClient(name: string, url: string, seen: Seen[]): { client: Client; transport: StreamableHTTPClientTransport } {
  const client = new Client({ name, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: cuttingFetch(seen, '"slow"', 2),
    reconnectionOptions: { initialReconnectionDelay: 300, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1.5, maxRetries: 3 },
  });
  return { client, transport };
}

/** Calls `slow` (6 steps) and checks that its result and every progress step arrived, once each. */
async function expectSlowCallWhole(client: Client): Promise<void> {
  const progress: number[] = [];
  const result = await client.callTool({ name: 'slow', arguments: { ms: 2400, steps: 6 } }, undefined, { onprogress: (p) => progress.push(p.progress), timeout: 20_000 });
  expect(textOf(result as { content?: { type: string; text?: string }[] })).toBe('slept 2400');
  expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
}

describe('resumability with the SDK 1.x client', () => {
  it('a POST stream cut mid-call is resumed by the client: every progress notification and the result arrive once', async () => {
    const seen: Seen[] = [];
    const errors: string[] = [];
    const { client, transport } = cuttingClient('resume-e2e', url, seen);
    transport.onerror = (e) => errors.push(e.message);
    await client.connect(transport);
    try {
      await expectSlowCallWhole(client);
      // The client lost the stream and came back for it with the id of the last event it saw.
      expect(errors.some((e) => e.includes('SSE stream disconnected'))).toBe(true);
      const resumes = seen.filter((s) => s.method === 'GET' && s.lastEventId !== null);
      expect(resumes).toHaveLength(1);
      expect(resumes[0]?.lastEventId).toMatch(/^[1-9]\d*:\d+$/);
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
  });

  it('a new client picks a call up with the resumptionToken request option', async () => {
    const first = new Client({ name: 'resume-e2e-a', version: '1.0.0' });
    const firstTransport = new StreamableHTTPClientTransport(new URL(url));
    await first.connect(firstTransport);
    const sessionId = firstTransport.sessionId!;
    let token: string | undefined;
    const progress: number[] = [];
    const call = first
      .request({ method: 'tools/call', params: { name: 'slow', arguments: { ms: 2000, steps: 8 } } }, CallToolResultSchema, {
        onprogress: (p) => progress.push(p.progress),
        onresumptiontoken: (t) => {
          token = t;
        },
        timeout: 20_000,
      })
      .catch((e: unknown) => e);
    await expect.poll(() => progress.length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    // The first client goes away mid-call (its stream closes; the session stays).
    await first.close();
    expect(await call).toBeInstanceOf(Error);
    expect(token).toMatch(/^[1-9]\d*:\d+$/);

    const bodies: { lastEventId: string | null; text: string; done: Promise<void> }[] = [];
    const second = new Client({ name: 'resume-e2e-b', version: '1.0.0' });
    const secondTransport = new StreamableHTTPClientTransport(new URL(url), { sessionId, fetch: recordingFetch(bodies) });
    await second.connect(secondTransport);
    try {
      // No POST: the SDK sends a GET with Last-Event-ID and takes the replayed response as this request's.
      const result = await second.request({ method: 'tools/call', params: { name: 'slow', arguments: { ms: 2000, steps: 8 } } }, CallToolResultSchema, {
        resumptionToken: token,
        timeout: 20_000,
      });
      expect(textOf(result)).toBe('slept 2000');
      expect(bodies.map((b) => b.lastEventId)).toEqual([token]);
      await bodies[0]!.done;
      // What came back: the events after the token, numbered on from it on the same stream, the response last.
      const [stream, seq] = token!.split(':').map(Number);
      const ids = [...bodies[0]!.text.matchAll(/^id: (\d+):(\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
      expect(ids.length).toBeGreaterThan(0);
      expect(ids).toEqual(ids.map((_, i) => [stream, seq! + 1 + i]));
      const messages = [...bodies[0]!.text.matchAll(/^data: (.+)$/gm)].map((m) => JSON.parse(m[1]!) as { id?: unknown; method?: string });
      expect(messages.filter((m) => m.method === undefined)).toHaveLength(1);
      expect(messages.at(-1)?.method).toBeUndefined();
      expect(progress.length + messages.filter((m) => m.method === 'notifications/progress').length).toBe(8);
    } finally {
      await secondTransport.terminateSession().catch(() => {});
      await second.close();
    }
  });
});

/**
 * A resumable Streamable HTTP server (SDK 1.x with its in-memory event store) with a `slow` tool that
 * reports progress; it records the Last-Event-ID of every GET it gets.
 */
async function resumableUpstream(): Promise<{ url: string; lastEventIds: string[]; close(): Promise<void> }> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const lastEventIds: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const id = req.headers['mcp-session-id'];
        const last = req.headers['last-event-id'];
        if (req.method === 'GET' && typeof last === 'string') lastEventIds.push(last);
        const body = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown) : undefined;
        let transport = typeof id === 'string' ? transports.get(id) : undefined;
        if (!transport) {
          if (typeof id === 'string') return void res.writeHead(404).end();
          const t = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            eventStore: new InMemoryEventStore(),
            onsessioninitialized: (sid) => void transports.set(sid, t),
          });
          const mcp = new McpServer({ name: 'resumable-upstream', version: '1.0.0' });
          mcp.registerTool('slow', { inputSchema: { ms: z.number(), steps: z.number() } }, async ({ ms, steps }, extra) => {
            for (let i = 1; i <= steps; i++) {
              await new Promise((r) => setTimeout(r, ms / steps));
              const token = extra._meta?.progressToken;
              if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
            }
            return { content: [{ type: 'text', text: `slept ${ms}` }] };
          });
          await mcp.connect(t);
          transport = t;
        }
        await transport.handleRequest(req, res, body);
      })().catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    lastEventIds,
    close: async () => {
      for (const t of transports.values()) await t.close().catch(() => {});
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('resumability through a url deployment (Berth proxies, the remote server resumes)', () => {
  let upstream: Awaited<ReturnType<typeof resumableUpstream>>;
  let remoteUrl: string;

  beforeAll(async () => {
    upstream = await resumableUpstream();
    const d = await ctx.api.deploy({ name: 'resume-remote', spec: { type: 'url', endpoint: upstream.url } });
    await ctx.api.waitFor(d.id);
    remoteUrl = d.endpoint;
  });

  afterAll(async () => {
    await upstream?.close();
  });

  it('the client resumes a cut POST stream; Berth hands its Last-Event-ID to the remote server', async () => {
    const seen: Seen[] = [];
    const { client, transport } = cuttingClient('resume-e2e-remote', remoteUrl, seen);
    await client.connect(transport);
    try {
      await expectSlowCallWhole(client);
      const sent = seen.filter((s) => s.method === 'GET' && s.lastEventId !== null).map((s) => s.lastEventId);
      expect(sent).toHaveLength(1);
      expect(upstream.lastEventIds).toEqual(sent);
    } finally {
      await transport.terminateSession().catch(() => {});
      await client.close();
    }
  });
});
