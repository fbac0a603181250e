// Baseline for the gateway benchmark: a Streamable HTTP MCP server built on the official SDK 1.x
// (McpServer + StreamableHTTPServerTransport, stateful, one transport and server per session).
// Listens on 127.0.0.1 (port from BENCH_PORT, default: any free port) and prints `listening PORT`.
// BENCH_JSON_RESPONSE=1 answers POSTs with application/json instead of the SDK's default SSE.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const MAX_BODY = 1024 * 1024;
const jsonResponse = process.env.BENCH_JSON_RESPONSE === '1';
/** @type {Map<string, StreamableHTTPServerTransport>} */
const sessions = new Map();

function newServer() {
  const server = new McpServer({ name: 'bench-http', version: '1.0.0' });
  server.registerTool('echo', { description: 'Returns its text', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('add', { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  return server;
}

function fail(res, status, message) {
  if (res.headersSent) return void res.end();
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
      } catch (err) {
        reject(err);
      }
    });
    req.on('error', reject);
  });
}

const isInitialize = (body) => (Array.isArray(body) ? body : [body]).some((m) => m && m.method === 'initialize');

async function handle(req, res) {
  if ((req.url ?? '').split('?')[0] !== '/mcp') return fail(res, 404, 'not found');
  const sid = req.headers['mcp-session-id'];
  const body = req.method === 'POST' ? await readJson(req) : undefined;
  let transport = typeof sid === 'string' ? sessions.get(sid) : undefined;
  if (!transport) {
    if (sid !== undefined) return fail(res, 404, 'Session not found');
    if (req.method !== 'POST' || !isInitialize(body)) return fail(res, 400, 'Mcp-Session-Id header is required');
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: jsonResponse,
      onsessioninitialized: (id) => void sessions.set(id, transport),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await newServer().connect(transport);
  }
  await transport.handleRequest(req, res, body);
}

const http = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  handle(req, res).catch((err) => fail(res, 500, err instanceof Error ? err.message : String(err)));
});

http.listen(Number(process.env.BENCH_PORT ?? 0), '127.0.0.1', () => {
  const addr = http.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});

let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  for (const t of sessions.values()) void t.close().catch(() => {});
  http.closeAllConnections();
  http.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', shutdown);
// The bench keeps our stdin open; when it goes away (even killed), so do we.
process.stdin.on('end', shutdown).on('error', shutdown).resume();
process.on('SIGINT', shutdown);
