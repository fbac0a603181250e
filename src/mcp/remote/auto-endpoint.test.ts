import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { FAST_RESTART, LIMITS, serveEndpoint, textOf, waitFor, type HttpFront } from '../testing/helpers.js';
import { AutoEndpoint, type AutoEndpointOptions } from './auto-endpoint.js';
import type { RemoteTransport } from './detect.js';
import { RemoteAddressPolicy } from './ssrf.js';
import { startHop } from './testing/hop.js';
import { startLegacySseServer, startSessionServer, startStatelessServer, type TestRemote } from './testing/servers.js';

/** The test remotes listen on 127.0.0.1. */
const LOOPBACK = new RemoteAddressPolicy(['loopback']);

interface Rig {
  remote: TestRemote;
  endpoint: AutoEndpoint;
  front: HttpFront;
  logs: string[];
}

async function rig(remote: TestRemote, over: Partial<AutoEndpointOptions> = {}): Promise<Rig> {
  const logs: string[] = [];
  const endpoint = new AutoEndpoint({
    deploymentId: 'remote',
    endpoint: remote.url,
    headers: {},
    guard: LOOPBACK,
    timeoutMs: 15_000,
    limits: LIMITS,
    restart: FAST_RESTART,
    log: (l) => logs.push(l),
    detectTimeoutMs: 5000,
    ...over,
  });
  await endpoint.start();
  const front = await serveEndpoint(endpoint);
  return { remote, endpoint, front, logs };
}

async function unrig(r: Rig | undefined): Promise<void> {
  await r?.front.close();
  await r?.endpoint.close();
  await r?.remote.close();
}

/** A 2025-11-25 client (SDK 1.x) that can sample and collects log messages; `close` ends its session. */
async function v1Client(url: string, legacy = false): Promise<{ client: ClientV1; logs: unknown[]; close(): Promise<void> }> {
  const client = new ClientV1({ name: 'client-v1', version: '1.0.0' }, { capabilities: { sampling: {} } });
  const logs: unknown[] = [];
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', model: 'test', content: { type: 'text', text: 'from v1' } }));
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.data));
  const transport = legacy ? new SSEClientTransport(new URL(url)) : new TransportV1(new URL(url));
  await client.connect(transport);
  const close = async (): Promise<void> => {
    if (transport instanceof TransportV1) await transport.terminateSession().catch(() => {});
    await client.close();
  };
  return { client, logs, close };
}

/** The same checks for any 1.x client: tools, progress, logging, sampling, clientInfo. */
async function exerciseV1(client: ClientV1, logs: unknown[]): Promise<void> {
  const names = (await client.listTools()).tools.map((t) => t.name);
  expect(names).toEqual(expect.arrayContaining(['echo', 'progress', 'log', 'sample', 'whoami', 'wait']));
  expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'héllo ✓' } }))).toBe('héllo ✓');
  expect(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).toBe('client-v1');
  const seen: number[] = [];
  const done = await client.callTool({ name: 'progress', arguments: { steps: 3 } }, undefined, { onprogress: (p) => seen.push(p.progress) });
  expect(textOf(done)).toBe('done 3');
  expect(seen).toEqual([1, 2, 3]);
  await client.setLoggingLevel('info');
  expect(textOf(await client.callTool({ name: 'log', arguments: { text: 'a log line' } }))).toBe('logged');
  await waitFor(() => logs.includes('a log line'), 5000, 'the log message');
  expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'q' } }))).toMatch(/^sampled: from v1/);
}

const REMOTES: [string, () => Promise<TestRemote>, RemoteTransport][] = [
  ['a legacy HTTP+SSE remote (SDK 1.x)', startLegacySseServer, 'sse'],
  ['a stateless-only 2026-07-28 remote (SDK 2.x)', () => startStatelessServer(), 'stateless'],
  ['a 2025-11-25 session remote (SDK 1.x)', startSessionServer, 'streamable-http'],
];

describe.each(REMOTES)('a url endpoint in front of %s', (_label, start, transport) => {
  let r: Rig;
  beforeAll(async () => {
    r = await rig(await start());
  });
  afterAll(() => unrig(r));

  it('detects the transport and says so in the log', () => {
    expect(r.endpoint.detected?.transport).toBe(transport);
    expect(r.endpoint.detected?.modern).toBe(transport === 'stateless');
    expect(r.logs.some((l) => l.startsWith(`remote transport detected: ${transport}`))).toBe(true);
  });

  it('probes it (tools/list) for health', async () => {
    const { tools } = await r.endpoint.probe(5000);
    expect(tools.map((t) => t.name).sort()).toEqual(['echo', 'log', 'progress', 'sample', 'wait', 'whoami']);
  });

  it('serves a 2025-11-25 client (SDK 1.x): tools, progress, logging, sampling', async () => {
    const { client, logs, close } = await v1Client(r.front.url);
    try {
      await exerciseV1(client, logs);
    } finally {
      await close();
    }
  });

  it('serves a legacy HTTP+SSE client (SDK 1.x SSEClientTransport)', async () => {
    const { client, logs, close } = await v1Client(r.front.sseUrl, true);
    try {
      await exerciseV1(client, logs);
    } finally {
      await close();
    }
  });

  it('serves a stateless 2026-07-28 client (SDK 2.x pinned): tools, progress, logging, sampling', async () => {
    const client = new ClientV2({ name: 'client-v2', version: '2.0.0' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    const logs: unknown[] = [];
    client.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 'test', content: { type: 'text', text: 'from v2' } }));
    client.setNotificationHandler('notifications/message', (n) => void logs.push(n.params.data));
    await client.connect(new TransportV2(new URL(r.front.url)));
    try {
      expect((await client.listTools()).tools.map((t) => t.name)).toContain('sample');
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'stateless' } }))).toBe('stateless');
      expect(textOf(await client.callTool({ name: 'whoami', arguments: {} }))).toBe('client-v2');
      const seen: number[] = [];
      await client.callTool({ name: 'progress', arguments: { steps: 2 } }, { onprogress: (p) => seen.push(p.progress) });
      expect(seen).toEqual([1, 2]);
      // This revision has no logging/setLevel: the level rides in each request's _meta.
      expect(textOf(await client.callTool({ name: 'log', arguments: { text: 'modern log' }, _meta: { 'io.modelcontextprotocol/logLevel': 'info' } }))).toBe('logged');
      await waitFor(() => logs.includes('modern log'), 5000, 'the log message');
      expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'q' } }))).toMatch(/^sampled: from v2/);
    } finally {
      await client.close();
    }
  });

  it('passes a 2025 client\'s cancellation on to the remote', async () => {
    const { client, close } = await v1Client(r.front.url);
    try {
      const before = { ...r.remote.waits };
      const ac = new AbortController();
      const call = client.callTool({ name: 'wait', arguments: { ms: 20_000 } }, undefined, { signal: ac.signal });
      await waitFor(() => r.remote.waits.started > before.started, 5000, 'the call to start');
      ac.abort('changed my mind');
      await expect(call).rejects.toThrow();
      await waitFor(() => r.remote.waits.cancelled > before.cancelled, 5000, 'the remote to see the cancellation');
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('still here');
    } finally {
      await close();
    }
  });

  it('ends the remote sessions it opened when clients go', async () => {
    await waitFor(() => r.remote.sessions() === 0, 5000, 'remote sessions to end');
    expect(r.endpoint.stats().sessions).toBe(0);
  });
});

describe('routing and detection details', () => {
  const rigs: Rig[] = [];
  afterAll(async () => {
    for (const x of rigs) await unrig(x);
  });

  it('proxies 2025 sessions to a session remote untouched, and bridges stateless clients over remote sessions', async () => {
    const r = await rig(await startSessionServer());
    rigs.push(r);
    const { client, close } = await v1Client(r.front.url);
    try {
      await client.listTools();
      expect(r.remote.sessions()).toBe(1);
      expect(r.endpoint.stats().sessions).toBe(0); // the bridge holds no session: the proxy carried it
    } finally {
      await close();
    }
    const before = r.remote.hits.POST ?? 0;
    const modern = new ClientV2({ name: 'm', version: '2' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await modern.connect(new TransportV2(new URL(r.front.url)));
    try {
      expect(textOf(await modern.callTool({ name: 'echo', arguments: { text: 'x' } }))).toBe('x');
    } finally {
      await modern.close();
    }
    // A stateless call became initialize + initialized + the call on a remote session of its own.
    expect((r.remote.hits.POST ?? 0) - before).toBeGreaterThanOrEqual(3);
  });

  it('treats a dual-era remote whose 2025 side has no sessions as stateless: 2026 proxied, 2025 translated', async () => {
    const r = await rig(await startStatelessServer({ dual: true }));
    rigs.push(r);
    expect(r.endpoint.detected).toMatchObject({ transport: 'stateless', modern: true });
    expect(r.endpoint.detected?.evidence.join(' ')).toMatch(/initialize: .*without a session/);
    const modern = new ClientV2({ name: 'm', version: '2' }, { capabilities: { sampling: {} }, versionNegotiation: { mode: { pin: '2026-07-28' } } });
    modern.setRequestHandler('sampling/createMessage', async () => ({ role: 'assistant', model: 't', content: { type: 'text', text: 'direct' } }));
    await modern.connect(new TransportV2(new URL(r.front.url)));
    try {
      // input_required and requestState pass through the proxy untouched.
      expect(textOf(await modern.callTool({ name: 'sample', arguments: { prompt: 'p' } }))).toBe('sampled: direct (asked:p)');
      expect(r.endpoint.stats().sessions).toBe(0);
    } finally {
      await modern.close();
    }
    // The session-less 2025 fallback could not ask a 2025 client for sampling; the translation can.
    const { client, close } = await v1Client(r.front.url);
    try {
      expect(textOf(await client.callTool({ name: 'sample', arguments: { prompt: 'p' } }))).toBe('sampled: from v1 (asked:p)');
      expect(r.endpoint.stats().sessions).toBe(1);
    } finally {
      await close();
    }
  });

  it('tells a 2025 client of a stateless remote that the tool list changed (subscriptions/listen)', async () => {
    const r = await rig(await startStatelessServer());
    rigs.push(r);
    const client = new ClientV1({ name: 'lc', version: '1' });
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    await client.connect(new TransportV1(new URL(r.front.url)));
    try {
      await client.listTools();
      // The listen stream opens after initialized; keep announcing until one arrives.
      await waitFor(
        () => {
          r.remote.toolsChanged();
          return changed > 0;
        },
        5000,
        'tools/list_changed',
      );
    } finally {
      await client.close();
    }
  });

  it('keeps a remote session usable while one call is slow, even when the remote answers only with JSON', async () => {
    const r = await rig(await startSessionServer({ json: true }));
    rigs.push(r);
    // A legacy SSE client: its session is bridged over one remote 2025 session (a StreamableChannel).
    const { client, close } = await v1Client(r.front.sseUrl, true);
    try {
      const ac = new AbortController();
      const slow = client.callTool({ name: 'wait', arguments: { ms: 20_000 } }, undefined, { signal: ac.signal });
      await waitFor(() => r.remote.waits.started === 1, 5000, 'the slow call to start');
      const t0 = Date.now();
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'meanwhile' } }, undefined, { timeout: 5000 }))).toBe('meanwhile');
      expect(Date.now() - t0).toBeLessThan(2000);
      ac.abort();
      await expect(slow).rejects.toThrow();
      await waitFor(() => r.remote.waits.cancelled === 1, 5000, 'the remote to see the cancellation');
    } finally {
      await close();
    }
  });

  it('takes spec.transport instead of detecting, and fails the probe when it is wrong', async () => {
    const remote = await startLegacySseServer();
    const r = await rig(remote, { transport: 'sse' });
    rigs.push(r);
    expect(r.logs[0]).toMatch(/^remote transport set: sse/);
    expect(remote.hits.POST ?? 0).toBe(0); // no detection POSTs
    expect((await r.endpoint.probe(5000)).tools.length).toBe(6);
    const wrong = await rig(await startSessionServer(), { transport: 'stateless' });
    rigs.push(wrong);
    await expect(wrong.endpoint.probe(3000)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });

  /** The error an AutoEndpoint in front of `url` fails to start with (null if it started). */
  async function startError(url: string): Promise<{ code: string; message: string } | null> {
    const endpoint = new AutoEndpoint({ deploymentId: 'x', endpoint: url, headers: {}, guard: LOOPBACK, timeoutMs: 5000, limits: LIMITS, restart: FAST_RESTART, detectTimeoutMs: 2000 });
    try {
      return await endpoint.start().then(
        () => null,
        (e: unknown) => e as { code: string; message: string },
      );
    } finally {
      await endpoint.close();
    }
  }

  it('refuses to start in front of something that is not an MCP server, naming what it saw', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>nope</h1>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const err = await startError(`http://127.0.0.1:${port}/mcp`);
      expect(err?.code).toBe('UPSTREAM_UNAVAILABLE');
      expect(err?.message).toMatch(/speaks no MCP transport.*initialize: HTTP 404.*GET: HTTP 404/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('says a remote that nothing answers for is unreachable, not that it speaks no MCP', async () => {
    const { createServer } = await import('node:net');
    // A port that was just free and is closed again: connections to it are refused.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const err = await startError(`http://127.0.0.1:${port}/mcp`);
    expect(err?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(err?.message).toMatch(new RegExp(`^Remote MCP server at http://127\\.0\\.0\\.1:${port}/mcp is unreachable: .*ECONNREFUSED`));
  });

  it('sends the deployment headers to the remote on every path (detection, proxy, channels)', async () => {
    const remote = await startLegacySseServer();
    const seen: (string | undefined)[] = [];
    // A forwarding hop in front of the legacy remote that records the Authorization header.
    const hop = await startHop(remote.url, {
      intercept: (req) => {
        seen.push(req.headers.authorization);
        return false;
      },
    });
    const r = await rig({ ...remote, url: `${hop.origin}/sse` }, { headers: { authorization: 'Bearer t0ken' } });
    rigs.push(r);
    try {
      const { client, close } = await v1Client(r.front.url);
      await client.callTool({ name: 'echo', arguments: { text: 'auth' } });
      await close();
      expect(seen.length).toBeGreaterThan(3);
      expect(seen.every((h) => h === 'Bearer t0ken')).toBe(true);
    } finally {
      await hop.close();
    }
  });
});
