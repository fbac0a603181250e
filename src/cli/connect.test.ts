import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runConnect } from './connect.js';

/**
 * A stand-in MCP endpoint (node:http, 2025 sessions, JSON answers) whose behaviour the test steers: it can forget
 * its sessions (as a restarted Berth does) and refuse new ones for a while (as a Berth whose deployment is still
 * starting does). It counts the initialize requests it gets.
 */
function standIn() {
  const state = { sessions: new Set<string>(), refuse: 0, inits: 0, next: 1 };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const sid = req.headers['mcp-session-id'] as string | undefined;
      if (req.method === 'GET') {
        if (!sid || !state.sessions.has(sid)) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const t = setInterval(() => {
          if (!state.sessions.has(sid)) {
            clearInterval(t);
            res.end();
          }
        }, 20);
        req.on('close', () => clearInterval(t));
        return;
      }
      if (req.method === 'DELETE') return void res.writeHead(200).end();
      const msg = JSON.parse(body) as { id?: number | string; method?: string; params?: Record<string, unknown> };
      if (msg.method === 'initialize') {
        state.inits++;
        if (state.refuse > 0) {
          state.refuse--;
          return void res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: -32010, message: 'starting' } }));
        }
        const id = `s${state.next++}`;
        state.sessions.add(id);
        return void res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': id }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'stand-in', version: '1' } } }));
      }
      if (!sid || !state.sessions.has(sid)) return void res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id ?? null, error: { code: -32012, message: 'Session not found' } }));
      if (msg.id === undefined) return void res.writeHead(202).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { echoed: msg.method } }));
    });
  });
  return { server, state };
}

describe('berth connect against a stand-in MCP endpoint', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  });

  it('opens one new session after the old one is lost, however many tries it takes (one retry loop, not one per failed try)', async () => {
    const s = standIn();
    server = s.server;
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}/mcp`;
    const input = new PassThrough();
    const out: string[] = [];
    const logs: string[] = [];
    const done = runConnect({ url, headers: {}, input, output: { write: (t: string) => out.push(t) }, log: (l) => logs.push(l), retryMs: 20 });
    input.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } })}\n`);
    const until = async (cond: () => boolean): Promise<void> => {
      const end = Date.now() + 10_000;
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out; logs: ${logs.join(' | ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => out.some((l) => l.includes('"id":1')));
    input.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
    expect(s.state.inits).toBe(1);
    // Berth "restarts": its sessions are gone, and the next 3 initializes are refused.
    s.state.refuse = 3;
    s.state.sessions.clear();
    await until(() => logs.some((l) => l.includes('a new session is open')));
    // Wait past several retry periods: no second loop may keep initializing.
    await new Promise((r) => setTimeout(r, 1000));
    expect(s.state.inits).toBe(1 + 3 + 1);
    expect(logs.filter((l) => l.includes('a new session is open'))).toHaveLength(1);
    input.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' })}\n`);
    await until(() => out.some((l) => l.includes('"id":2')));
    input.end();
    await done;
  });
});
