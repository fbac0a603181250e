/**
 * Remote MCP servers for tests, each on a free 127.0.0.1 port, built on the official SDKs:
 *
 * - `startLegacySseServer`: SDK 1.x `SSEServerTransport` (HTTP+SSE, 2024-11-05): GET /sse, POST /messages;
 * - `startSessionServer`:   SDK 1.x `StreamableHTTPServerTransport` with sessions (2025-11-25) at /mcp;
 * - `startStatelessServer`: SDK 2.x `createMcpHandler(…, { legacy: 'reject' })` at /mcp: revision
 *   2026-07-28 only (it refuses `initialize` with -32022); `dual: true` also serves 2025 requests.
 *
 * All offer the same tools: echo {text}, progress {steps} (progress notifications), log {text}
 * (a log message, then a result), sample {prompt} (asks the client for sampling: a server request on
 * 1.x, an `input_required` round on 2.x), whoami (the clientInfo name the server was given),
 * wait {ms} (sleeps unless cancelled; counted in `waits`).
 * Not shipped (src/…/testing is excluded from the build).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer as McpServerV1 } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CreateMessageResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { McpServer as McpServerV2, createMcpHandler, inputRequired } from '@modelcontextprotocol/server';
import { z } from 'zod';

export interface TestRemote {
  /** The URL a url deployment names. */
  url: string;
  /** HTTP requests the server received, by method (`GET`, `POST`, `DELETE`). */
  hits: Record<string, number>;
  /** Open remote sessions (legacy SSE streams or 2025 sessions). */
  sessions(): number;
  /** Tell listeners the tool list changed (stateless server: over subscriptions/listen). */
  toolsChanged(): void;
  /** Calls of the `wait` tool that started, and those that saw their request cancelled. */
  waits: { started: number; cancelled: number };
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Waits = TestRemote['waits'];

/** Sleeps `ms` unless `signal` aborts first (counted as a cancellation). */
async function wait(ms: number, signal: AbortSignal, waits: Waits): Promise<string> {
  waits.started++;
  const cancelled = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve(true)), { once: true });
  });
  if (cancelled) waits.cancelled++;
  return cancelled ? 'cancelled' : `waited ${ms}`;
}

function v1Server(name: string, waits: Waits): McpServerV1 {
  const server = new McpServerV1({ name, version: '1.0.0' }, { capabilities: { logging: {} } });
  server.registerTool('wait', { description: 'Sleeps', inputSchema: { ms: z.number().int() } }, async ({ ms }, extra) => ({
    content: [{ type: 'text', text: await wait(ms, extra.signal, waits) }],
  }));
  server.registerTool('echo', { description: 'Returns its text', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('progress', { description: 'Reports progress', inputSchema: { steps: z.number().int() } }, async ({ steps }, extra) => {
    const token = extra._meta?.progressToken;
    for (let i = 1; i <= steps; i++) {
      if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
      await sleep(10);
    }
    return { content: [{ type: 'text', text: `done ${steps}` }] };
  });
  server.registerTool('log', { description: 'Logs its text', inputSchema: { text: z.string() } }, async ({ text }, extra) => {
    await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: name, data: text } });
    return { content: [{ type: 'text', text: 'logged' }] };
  });
  server.registerTool('sample', { description: 'Asks the client to sample', inputSchema: { prompt: z.string() } }, async ({ prompt }, extra) => {
    const r = await extra.sendRequest(
      { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 20 } },
      CreateMessageResultSchema,
    );
    const c = r.content as { type: string; text?: string };
    return { content: [{ type: 'text', text: `sampled: ${c.text ?? ''}` }] };
  });
  server.registerTool('whoami', { description: 'The client name', inputSchema: {} }, async () => ({
    content: [{ type: 'text', text: server.server.getClientVersion()?.name ?? 'unknown' }],
  }));
  return server;
}

function v2Server(name: string, waits: Waits): McpServerV2 {
  const server = new McpServerV2({ name, version: '2.0.0' }, { capabilities: { logging: {} } });
  server.registerTool('wait', { description: 'Sleeps', inputSchema: z.object({ ms: z.number().int() }) }, async ({ ms }, ctx) => ({
    content: [{ type: 'text', text: await wait(ms, ctx.mcpReq.signal, waits) }],
  }));
  server.registerTool('echo', { description: 'Returns its text', inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  server.registerTool('progress', { description: 'Reports progress', inputSchema: z.object({ steps: z.number().int() }) }, async ({ steps }, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (let i = 1; i <= steps; i++) {
      if (token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
      await sleep(10);
    }
    return { content: [{ type: 'text', text: `done ${steps}` }] };
  });
  server.registerTool('log', { description: 'Logs its text', inputSchema: z.object({ text: z.string() }) }, async ({ text }, ctx) => {
    await ctx.mcpReq.log('info', text, name);
    return { content: [{ type: 'text', text: 'logged' }] };
  });
  server.registerTool('sample', { description: 'Asks the client to sample', inputSchema: z.object({ prompt: z.string() }) }, async ({ prompt }, ctx) => {
    const answer = ctx.mcpReq.inputResponses?.llm as { content?: { text?: string } } | undefined;
    if (!answer) {
      return inputRequired({
        inputRequests: { llm: inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens: 20 }) },
        requestState: `asked:${prompt}`,
      });
    }
    return { content: [{ type: 'text', text: `sampled: ${answer.content?.text ?? ''} (${String(ctx.mcpReq.requestState())})` }] };
  });
  server.registerTool('whoami', { description: 'The client name', inputSchema: z.object({}) }, async (_args, ctx) => ({
    content: [{ type: 'text', text: String(((ctx.mcpReq.envelope ?? {}) as Record<string, { name?: string } | undefined>)['io.modelcontextprotocol/clientInfo']?.name ?? 'unknown') }],
  }));
  return server;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closer(server: Server, extra: () => Promise<void> = async () => {}): () => Promise<void> {
  return async () => {
    await extra();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** A TestRemote for a server that keeps one SDK transport per session in `transports` (closed on close()). */
async function sessionRemote(server: Server, path: string, transports: Map<string, { close(): Promise<void> }>, hits: Record<string, number>, waits: Waits): Promise<TestRemote> {
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}${path}`,
    hits,
    sessions: () => transports.size,
    toolsChanged: () => {},
    waits,
    close: closer(server, async () => {
      await Promise.all([...transports.values()].map((t) => t.close()));
    }),
  };
}

function counted(hits: Record<string, number>, handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Server {
  return createServer((req, res) => {
    hits[req.method ?? '?'] = (hits[req.method ?? '?'] ?? 0) + 1;
    handler(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });
}

/** A legacy HTTP+SSE server (SDK 1.x): GET /sse opens a session, POST /messages?sessionId=… feeds it. */
export async function startLegacySseServer(): Promise<TestRemote> {
  const transports = new Map<string, SSEServerTransport>();
  const hits: Record<string, number> = {};
  const waits: Waits = { started: 0, cancelled: 0 };
  const server = counted(hits, async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/sse' && req.method === 'GET') {
      const transport = new SSEServerTransport('/messages', res);
      transports.set(transport.sessionId, transport);
      res.on('close', () => transports.delete(transport.sessionId));
      await v1Server('legacy-remote', waits).connect(transport);
      return;
    }
    if (url.pathname === '/messages' && req.method === 'POST') {
      const t = transports.get(url.searchParams.get('sessionId') ?? '');
      if (!t) return void res.writeHead(404).end('no such session');
      await t.handlePostMessage(req, res, JSON.parse((await readBody(req)).toString('utf8')));
      return;
    }
    res.writeHead(url.pathname === '/sse' ? 405 : 404, { allow: 'GET' }).end();
  });
  return sessionRemote(server, '/sse', transports, hits, waits);
}

/** A Streamable HTTP server with sessions (SDK 1.x, revision 2025-11-25) at /mcp; `json`: answers POSTs with plain JSON once done. */
export async function startSessionServer(opts: { json?: boolean } = {}): Promise<TestRemote> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const hits: Record<string, number> = {};
  const waits: Waits = { started: 0, cancelled: 0 };
  const server = counted(hits, async (req, res) => {
    if (new URL(req.url ?? '/', 'http://127.0.0.1').pathname !== '/mcp') return void res.writeHead(404).end();
    const body = req.method === 'POST' ? (JSON.parse((await readBody(req)).toString('utf8')) as unknown) : undefined;
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
    if (!transport) {
      const isInit = typeof body === 'object' && body !== null && (body as { method?: unknown }).method === 'initialize';
      if (sid !== undefined || !isInit) {
        res.writeHead(sid !== undefined ? 404 : 400, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: sid !== undefined ? 'Session not found' : 'Bad Request: Server not initialized' } }));
      }
      const t: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: opts.json ?? false,
        onsessioninitialized: (id) => void transports.set(id, t),
        onsessionclosed: (id) => void transports.delete(id),
      });
      t.onclose = () => {
        if (t.sessionId) transports.delete(t.sessionId);
      };
      await v1Server('session-remote', waits).connect(t);
      transport = t;
    }
    await transport.handleRequest(req, res, body);
  });
  return sessionRemote(server, '/mcp', transports, hits, waits);
}

/** A revision 2026-07-28 server (SDK 2.x `createMcpHandler`) at /mcp; stateless only unless `dual`. */
export async function startStatelessServer(opts: { dual?: boolean } = {}): Promise<TestRemote> {
  const waits: Waits = { started: 0, cancelled: 0 };
  const handler = createMcpHandler(() => v2Server('stateless-remote', waits), { legacy: opts.dual ? 'stateless' : 'reject' });
  const hits: Record<string, number> = {};
  const server = counted(hits, async (req, res) => {
    if (new URL(req.url ?? '/', 'http://127.0.0.1').pathname !== '/mcp') return void res.writeHead(404).end();
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (Array.isArray(v)) for (const x of v) headers.append(k, x);
      else if (v !== undefined) headers.set(k, v);
    }
    const answer = await handler.fetch(new Request(`http://127.0.0.1${req.url ?? '/'}`, { method: req.method, headers, body, signal: ac.signal }));
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    if (answer.body) {
      try {
        for await (const chunk of answer.body) res.write(chunk);
      } catch {
        // the client went away
      }
    }
    res.end();
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    hits,
    sessions: () => 0,
    toolsChanged: () => handler.notify.toolsChanged(),
    waits,
    close: closer(server, () => handler.close()),
  };
}
