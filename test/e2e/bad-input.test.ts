import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { connectV1, textOf } from '../support/clients.js';
import { echoSpec } from '../support/servers.js';

let berth: BerthProcess;
let api: TestApi;
let endpoint: string;

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

beforeAll(async () => {
  berth = await startBerth({ env: { BERTH_MAX_BODY_BYTES: '65536' } });
  api = new TestApi(berth.url, berth.token);
  const d = await api.deploy(echoSpec('bad-input'));
  endpoint = d.endpoint;
  await api.waitFor(d.id);
});

afterAll(async () => {
  await berth?.dispose();
});

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body });
  const text = await res.text();
  let json: { id?: unknown; error?: { code: number; message: string; data?: { code?: string } } } | undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** node:http, because fetch() will not send a chosen Host header. */
function rawRequest(path: string, headers: Record<string, string>, body?: string, method = 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${berth.url}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function openSession(): Promise<string> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: MCP_HEADERS,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
  });
  await res.text();
  return res.headers.get('mcp-session-id')!;
}

describe('bad input gets a clear error and Berth keeps serving', () => {
  it('unknown deployment id: 404 with a JSON-RPC error', async () => {
    // With a token that may call anything; without one, an unknown id is refused like a private one (401).
    const r = await post(`${berth.url}/s/nosuch-000000000000/mcp`, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }), berth.authHeaders());
    expect(r.status).toBe(404);
    expect(r.json?.error?.data?.code).toBe('DEPLOYMENT_NOT_FOUND');
    const anonymous = await post(`${berth.url}/s/nosuch-000000000000/mcp`, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }));
    expect(anonymous.status).toBe(401);
    expect(anonymous.json?.error?.data?.code).toBe('UNAUTHORIZED');
    const weird = await post(`${berth.url}/s/..%2F..%2Fetc/mcp`, '{}');
    expect(weird.status).toBe(404);
    const empty = await post(`${berth.url}/s//mcp`, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }));
    expect(empty.status).toBe(404);
    expect(empty.json?.error?.data?.code).toBe('DEPLOYMENT_NOT_FOUND');
    expect(empty.json?.error?.message).toContain('no deployment id');
  });

  it('malformed JSON: 400 with a parse error', async () => {
    const session = await openSession();
    const r = await post(endpoint, '{"jsonrpc":"2.0","id":1,"method":', { 'mcp-session-id': session });
    expect(r.status).toBe(400);
    expect(r.json?.error?.code).toBe(-32700);
    expect(r.json?.error?.data?.code).toBe('INVALID_JSON');
  });

  it('JSON that is not JSON-RPC (no method, no id): 400 invalid request', async () => {
    const session = await openSession();
    const cases = [
      { jsonrpc: '2.0' },
      { jsonrpc: '2.0', params: {} },
      { id: 1, method: 'ping' },
      42,
      'hello',
      // MCP, stricter than JSON-RPC: params is an object, ids are strings or integers.
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: [1, 2] },
      { jsonrpc: '2.0', id: 1.5, method: 'ping' },
    ];
    for (const body of cases) {
      const r = await post(endpoint, JSON.stringify(body), { 'mcp-session-id': session });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json?.error?.code, JSON.stringify(body)).toBe(-32600);
      expect(r.json?.error?.data?.code).toBe('INVALID_JSONRPC');
    }
  });

  it('stateless (2026-07-28) refusals: header/body mismatch and a missing _meta, each with a stable code', async () => {
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    const mismatch = await post(endpoint, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta } }), {
      'mcp-protocol-version': '2026-07-28',
      'mcp-method': 'tools/call',
    });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json?.error?.code).toBe(-32020);
    expect(mismatch.json?.error?.data?.code).toBe('HEADER_MISMATCH');
    const noMeta = await post(endpoint, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }), { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' });
    expect(noMeta.status).toBe(400);
    expect(noMeta.json?.error?.data?.code).toBe('INVALID_ENVELOPE');
  });

  it('unknown session id: 404; missing session id: 400', async () => {
    const unknown = await post(endpoint, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), { 'mcp-session-id': 'not-a-session' });
    expect(unknown.status).toBe(404);
    expect(unknown.json?.error?.data?.code).toBe('SESSION_NOT_FOUND');
    const missing = await post(endpoint, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
    expect(missing.status).toBe(400);
    expect(missing.json?.error?.data?.code).toBe('MISSING_SESSION');
  });

  it('oversized body: 413, with and without Content-Length', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(70_000) } } });
    const r = await post(endpoint, big);
    expect(r.status).toBe(413);
    expect(r.json?.error?.data?.code).toBe('PAYLOAD_TOO_LARGE');
    const chunked = await fetch(endpoint, {
      method: 'POST',
      headers: MCP_HEADERS,
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 10; i++) c.enqueue(new TextEncoder().encode('x'.repeat(10_000)));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  it('invalid specs: 400 VALIDATION_FAILED naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ name: 'x', spec: { type: 'process', command: '' } }, 'spec.command'],
      [{ name: 'x', spec: { type: 'docker-ish', image: 'y' } }, 'spec.type'],
      [{ name: '', spec: { type: 'process', command: 'node' } }, 'name'],
      [{ name: 'x', spec: { type: 'url', endpoint: 'ftp://nope' } }, 'spec.endpoint'],
      [{ name: 'x', spec: { type: 'process', command: 'node', env: { 'BAD-NAME': '1' } } }, 'spec.env'],
      [{ name: 'x', env_schema: [{ name: 'API_KEY', required: true }], spec: { type: 'process', command: 'node' } }, 'spec.env.API_KEY'],
      [{ name: 'x', env_schema: [{ name: 'N', type: 'integer' }], spec: { type: 'process', command: 'node', env: { N: 'ten' } } }, 'spec.env.N'],
      [{ name: 'x', spec: { type: 'process', command: 'node' }, surprise: true }, 'surprise'],
    ];
    for (const [body, field] of cases) {
      const r = await api.call<{ error: { code: string; message: string; details: { issues: { field: string }[] } } }>('POST', '/api/deployments', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('VALIDATION_FAILED');
      expect(r.body.error.message).toContain(field === 'surprise' ? 'surprise' : field);
    }
    const notJson = await fetch(`${berth.url}/api/deployments`, { method: 'POST', headers: { 'content-type': 'application/json', ...berth.authHeaders() }, body: '{nope' });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: { code: string } }).error.code).toBe('INVALID_JSON');
  });

  it('unknown ids and routes in the API: 404 with stable codes; wrong method: 405', async () => {
    for (const path of ['/api/deployments/nosuch', '/api/deployments/nosuch/status', '/api/deployments/nosuch/logs']) {
      const r = await api.call<{ error: { code: string } }>('GET', path);
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe('DEPLOYMENT_NOT_FOUND');
    }
    expect((await api.call<{ error: { code: string } }>('POST', '/api/deployments/nosuch/stop')).body.error.code).toBe('DEPLOYMENT_NOT_FOUND');
    expect((await api.call<{ error: { code: string } }>('GET', '/api/nothing-here')).body.error.code).toBe('NOT_FOUND');
    const wrong = await api.call<{ error: { code: string } }>('PUT', '/api/deployments');
    expect(wrong.status).toBe(405);
  });

  it('refuses DNS-rebinding requests (foreign Host or Origin) on the API and on MCP endpoints', async () => {
    const deploy = await rawRequest('/api/deployments', { host: 'rebind.attacker.test:8080', 'content-type': 'application/json' }, JSON.stringify(echoSpec('evil')));
    expect(deploy.status).toBe(403);
    expect(JSON.parse(deploy.body).error.code).toBe('FORBIDDEN_HOST');
    const mcp = await rawRequest(new URL(endpoint).pathname, { ...MCP_HEADERS, origin: 'http://attacker.test' }, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }));
    expect(mcp.status).toBe(403);
    expect(JSON.parse(mcp.body).error.data.code).toBe('FORBIDDEN_ORIGIN');
    // Berth's own origin, exactly: another page on loopback is as foreign as any.
    const own = await rawRequest('/healthz', { origin: berth.url }, undefined, 'GET');
    expect(own.status).toBe(200);
    const otherLoopbackPage = await rawRequest('/healthz', { origin: `http://localhost:3000` }, undefined, 'GET');
    expect(otherLoopbackPage.status).toBe(403);
    const list = await api.call<{ items: { name: string }[] }>('GET', '/api/deployments');
    expect(list.body.items.map((d) => d.name)).not.toContain('evil');
  });

  it('still serves MCP and the API after all of the above', async () => {
    expect((await fetch(`${berth.url}/healthz`)).status).toBe(200);
    const c = await connectV1(endpoint);
    try {
      expect(textOf(await c.call('echo', { text: 'still here' }))).toBe('still here');
    } finally {
      await c.close();
    }
  });
});
