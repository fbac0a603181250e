import { expect } from 'vitest';
import type { RawCase } from './tables.js';
import type { Row } from './upstreams.js';

/** The raw HTTP client's edge cases: what no SDK client sends, checked on the wire. */

type Json = Record<string, unknown>;
interface Answer {
  status: number;
  headers: Headers;
  /** JSON-RPC messages in the body: a JSON object or array, or the `data:` of each SSE event. */
  messages: Json[];
  body: string;
}

const ACCEPT = 'application/json, text/event-stream';

function parseSse(text: string): Json[] {
  const out: Json[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data) out.push(JSON.parse(data) as Json);
  }
  return out;
}

async function send(method: 'POST' | 'DELETE', url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, {
    method,
    headers: { accept: ACCEPT, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  let messages: Json[] = [];
  if (type.startsWith('text/event-stream')) messages = parseSse(text);
  else if (text && type.includes('json')) {
    const parsed = JSON.parse(text) as Json | Json[];
    messages = Array.isArray(parsed) ? parsed : [parsed];
  }
  return { status: res.status, headers: res.headers, messages, body: text };
}

/** A raw 2025 session: initialize, then notifications/initialized (whose answer the caller may inspect). */
async function openSession(url: string, version = '2025-11-25'): Promise<{ headers: Record<string, string>; initialized: Answer }> {
  const init = await send('POST', url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'matrix-raw', version: '1' } } });
  expect(init.status, init.body).toBe(200);
  const result = init.messages.find((m) => m.id === 1)?.result as Json | undefined;
  expect(result?.protocolVersion).toBe(version);
  const sid = init.headers.get('mcp-session-id');
  expect(sid, 'initialize answered without Mcp-Session-Id').toBeTruthy();
  const headers = { 'mcp-session-id': sid!, 'mcp-protocol-version': version };
  const initialized = await send('POST', url, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
  return { headers, initialized };
}

async function endSession(url: string, headers: Record<string, string>): Promise<void> {
  await send('DELETE', url, undefined, headers).catch(() => {});
}

/** A tool call that makes the server change a list, and the notification that announces it. */
function listChangeFor(row: Row, tag: string): { call: Json; method: string } {
  return row.def.server === 'everything'
    ? { call: { name: 'gzip-file-as-resource', arguments: { name: `raw-${tag}.gz`, data: 'data:text/plain;base64,cmF3' } }, method: 'notifications/resources/list_changed' }
    : { call: { name: 'add_tool', arguments: { name: `raw_${tag}` } }, method: 'notifications/tools/list_changed' };
}

function echoCall(row: Row, tag: string): { call: Json; expected: string } {
  return row.def.server === 'everything' ? { call: { name: 'echo', arguments: { message: tag } }, expected: `Echo: ${tag}` } : { call: { name: 'echo', arguments: { text: tag } }, expected: tag };
}

const textOfResult = (m: Json | undefined): string =>
  (((m?.result as Json | undefined)?.content as { text?: string }[] | undefined) ?? []).map((c) => c.text ?? '').join('');

export const RAW: Record<RawCase, (row: Row, tag: string) => Promise<void>> = {
  /** A POST carrying only a notification is accepted with 202 and no body. */
  async 'notify-202'(row) {
    const { headers, initialized } = await openSession(row.endpoint);
    try {
      expect(initialized.status).toBe(202);
      expect(initialized.body).toBe('');
    } finally {
      await endSession(row.endpoint, headers);
    }
  },

  /** A JSON-RPC batch in a 2025-03-26 session (the last revision with batches): one answer per request. */
  async batch(row) {
    const { headers } = await openSession(row.endpoint, '2025-03-26');
    try {
      const r = await send('POST', row.endpoint, [
        { jsonrpc: '2.0', id: 'b1', method: 'ping' },
        { jsonrpc: '2.0', id: 'b2', method: 'tools/list' },
        { jsonrpc: '2.0', method: 'notifications/roots/list_changed' },
      ], headers);
      expect(r.status, r.body).toBe(200);
      const ids = r.messages.map((m) => m.id).sort();
      expect(ids).toEqual(['b1', 'b2']);
      const tools = (r.messages.find((m) => m.id === 'b2')?.result as { tools?: unknown[] } | undefined)?.tools;
      expect(tools?.length).toBeGreaterThan(0);
    } finally {
      await endSession(row.endpoint, headers);
    }
  },

  /** The session's GET stream carries list_changed caused by a POST of the same session. */
  async 'get-stream'(row, tag) {
    const { headers } = await openSession(row.endpoint);
    const ac = new AbortController();
    try {
      const res = await fetch(row.endpoint, { method: 'GET', headers: { accept: 'text/event-stream', ...headers }, signal: ac.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events: Json[] = [];
      let buf = '';
      const reading = (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          const cut = buf.lastIndexOf('\n\n');
          if (cut >= 0) {
            events.push(...parseSse(buf.slice(0, cut)));
            buf = buf.slice(cut + 2);
          }
        }
      })().catch(() => {});
      const { call, method } = listChangeFor(row, tag);
      const r = await send('POST', row.endpoint, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: call }, headers);
      expect(r.status, r.body).toBe(200);
      const deadline = Date.now() + 3000;
      while (!events.some((e) => e.method === method) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(events.map((e) => e.method), `GET stream: ${JSON.stringify(events.map((e) => e.method))}; POST answer (${r.headers.get('content-type')}): ${JSON.stringify(r.messages.map((m) => m.method ?? `response ${String(m.id)}`))}`).toContain(method);
      // It came on the GET stream, not (only) in the POST's answer.
      ac.abort();
      await reading;
    } finally {
      ac.abort();
      await endSession(row.endpoint, headers);
    }
  },

  /** DELETE ends the session; the next request with its id is 404. */
  async 'delete-404'(row) {
    const { headers } = await openSession(row.endpoint);
    const del = await send('DELETE', row.endpoint, undefined, headers);
    expect(del.status, del.body).toBeGreaterThanOrEqual(200);
    expect(del.status, del.body).toBeLessThan(300);
    const after = await send('POST', row.endpoint, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, headers);
    expect(after.status, after.body).toBe(404);
    if (row.def.deploy.kind === 'process') expect((after.messages[0]?.error as { data?: { code?: string } } | undefined)?.data?.code).toBe('SESSION_NOT_FOUND');
  },

  /** A session id nobody issued is 404, not served and not a new session. */
  async 'unknown-session'(row) {
    const r = await send('POST', row.endpoint, { jsonrpc: '2.0', id: 4, method: 'tools/list' }, { 'mcp-session-id': 'matrix-no-such-session', 'mcp-protocol-version': '2025-11-25' });
    expect(r.status, r.body).toBe(404);
    expect(r.messages[0]?.result).toBeUndefined();
  },

  /** A 2026-07-28 call by hand: no session, the `_meta` envelope and the standard headers. */
  async 'stateless-call'(row, tag) {
    const { call, expected } = echoCall(row, tag);
    const r = await send(
      'POST',
      row.endpoint,
      {
        jsonrpc: '2.0',
        id: 5,
        method: 'tools/call',
        params: {
          ...call,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientInfo': { name: 'matrix-raw', version: '1' },
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': String(call.name) },
    );
    expect(r.status, r.body).toBe(200);
    expect(r.headers.get('mcp-session-id')).toBeNull();
    const answer = r.messages.find((m) => m.id === 5);
    expect((answer?.result as Json | undefined)?.resultType, r.body).toBe('complete');
    expect(textOfResult(answer)).toBe(expected);
  },
};
