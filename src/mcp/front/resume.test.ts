// Resumability (2025-11-25 "Resumability and Redelivery") over real sockets: raw fetch clients that
// drop SSE streams on purpose and come back with GET + Last-Event-ID.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSharedBridge } from '../bridge/shared.js';
import { StreamableHttpTransport } from './transport.js';
import type { Session, TransportBackend, TransportOptions } from './transport.js';
import type { Exchange } from './exchange.js';
import { resultResponse } from '../wire/jsonrpc.js';
import type { JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';
import { ECHO_SERVER, FAST_RESTART, JSON_HEADERS, LIMITS, nodeSpawner, rawInitialize, rawPost, serveEndpoint, textOf, waitFor } from '../testing/helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// ---- a raw SSE client ----

interface Ev {
  id?: string;
  data?: string;
}

interface Msg {
  id?: unknown;
  method?: string;
  params?: { progress?: number; progressToken?: unknown; data?: unknown };
  result?: Record<string, unknown>;
}

class SseRead {
  readonly events: Ev[] = [];
  readonly comments: string[] = [];
  /** Resolves 'end' when the server ended the stream, 'aborted' when we dropped it. */
  readonly done: Promise<'end' | 'aborted'>;

  constructor(
    /** The response, once its headers are in (a POST's come with its first event or JSON answer). */
    readonly response: Promise<Response>,
    private readonly ac: AbortController,
  ) {
    this.done = this.pump();
  }

  /** Messages (events with data), parsed. */
  get messages(): Msg[] {
    return this.events.filter((e) => e.data !== undefined && e.data !== '').map((e) => JSON.parse(e.data!) as Msg);
  }

  /** The id of the last event seen, as a client would keep it for Last-Event-ID. */
  get lastId(): string | undefined {
    return this.events.filter((e) => e.id !== undefined).at(-1)?.id;
  }

  drop(): void {
    this.ac.abort();
  }

  async until(pred: (r: SseRead) => boolean, what: string): Promise<void> {
    await waitFor(() => pred(this), 5000, what);
  }

  private async pump(): Promise<'end' | 'aborted'> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      const res = await this.response;
      if (!res.body) return 'end';
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: Ev = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
            else if (line.startsWith('id:')) ev.id = line.slice(3).trim();
            else if (line.startsWith('data:')) ev.data = line.slice(5).trim();
          }
          if (ev.id !== undefined || ev.data !== undefined) this.events.push(ev);
        }
      }
      return 'end';
    } catch {
      return 'aborted';
    }
  }
}

/** Opens a stream without waiting for its headers (a POST's only come with its first event). */
function sse(url: string, init: { method: 'GET' | 'POST'; sid: string; body?: unknown; lastEventId?: string }): SseRead {
  const ac = new AbortController();
  const headers: Record<string, string> = { ...JSON_HEADERS, 'mcp-session-id': init.sid };
  if (init.method === 'GET') headers.accept = 'text/event-stream';
  if (init.lastEventId !== undefined) headers['last-event-id'] = init.lastEventId;
  const res = fetch(url, { method: init.method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body), signal: ac.signal });
  res.catch(() => {});
  const r = new SseRead(res, ac);
  cleanups.push(() => r.drop());
  return r;
}

async function getError(url: string, sid: string, lastEventId: string): Promise<{ status: number; body: { error?: { code: number; message: string; data?: { code?: string } } } }> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': lastEventId } });
  return { status: res.status, body: (await res.json()) as { error?: { code: number; message: string; data?: { code?: string } } } };
}

const progressOf = (msgs: Msg[]): number[] => msgs.filter((m) => m.method === 'notifications/progress').map((m) => m.params?.progress ?? -1);
const responsesOf = (msgs: Msg[], id: unknown): Msg[] => msgs.filter((m) => m.id === id && m.method === undefined);

const slowCall = (id: number, ms: number, steps: number, token: string): unknown => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'slow', arguments: { ms, steps }, _meta: { progressToken: token } },
});

// ---- through the shared bridge and a real stdio server ----

async function echoBridge(): Promise<{ url: string }> {
  const spawner = nodeSpawner(ECHO_SERVER);
  const bridge = createSharedBridge({ deploymentId: 'r', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  return { url: front.url };
}

describe('resumability through the shared bridge (echo server, slow tool with progress)', () => {
  it('resumes a dropped POST stream with GET + Last-Event-ID: the rest of the progress and the response arrive exactly once', async () => {
    const { url } = await echoBridge();
    const sid = await rawInitialize(url);
    const post = sse(url, { method: 'POST', sid, body: slowCall(7, 1200, 6, 'tok') });
    expect((await post.response).headers.get('content-type')).toContain('text/event-stream');
    await post.until((r) => progressOf(r.messages).length >= 2, 'two progress notifications');
    // The first event is the priming event (an id, no data); every message carries an id of this stream.
    expect(post.events[0]).toEqual({ id: '1:0', data: '' });
    expect(post.events.slice(1).every((e) => /^1:\d+$/.test(e.id ?? ''))).toBe(true);
    post.drop();
    expect(await post.done).toBe('aborted');
    const before = post.messages;
    const lastId = post.lastId!;
    // Let some progress happen while nobody is connected.
    await new Promise((r) => setTimeout(r, 450));

    const resumed = sse(url, { method: 'GET', sid, lastEventId: lastId });
    expect((await resumed.response).status).toBe(200);
    expect(await resumed.done).toBe('end'); // the stream ends after the response
    const after = resumed.messages;
    const all = [...before, ...after];
    expect(progressOf(all)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(responsesOf(all, 7)).toHaveLength(1);
    expect(textOf(responsesOf(after, 7)[0]?.result)).toBe('slept 1200');
    expect(after.every((m) => m.method === undefined || m.params?.progressToken === 'tok')).toBe(true);
    // Ids go on where the dropped connection stopped.
    const [, lastSeq] = lastId.split(':').map(Number);
    expect(resumed.events[0]?.id).toBe(`1:${lastSeq! + 1}`);

    // The stream is over and the client has all of it: nothing left to resume.
    const again = await getError(url, sid, resumed.lastId!);
    expect(again.status).toBe(400);
    expect(again.body.error).toMatchObject({ code: -32600, data: { code: 'UNKNOWN_EVENT_ID' } });
  });

  it('a resumed POST stream stays live until its response, and an earlier id replays from there', async () => {
    const { url } = await echoBridge();
    const sid = await rawInitialize(url);
    const post = sse(url, { method: 'POST', sid, body: slowCall(3, 1600, 8, 'live') });
    await post.until((r) => progressOf(r.messages).length >= 2, 'two progress notifications');
    post.drop();
    await post.done;
    // Resume from the priming event's id: everything is replayed, the live part follows.
    const resumed = sse(url, { method: 'GET', sid, lastEventId: '1:0' });
    await resumed.until((r) => progressOf(r.messages).length >= 2, 'replayed progress');
    const replayedSoFar = resumed.messages.length;
    expect(await resumed.done).toBe('end');
    expect(resumed.messages.length).toBeGreaterThan(replayedSoFar);
    expect(progressOf(resumed.messages)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(responsesOf(resumed.messages, 3)).toHaveLength(1);
  });
});

// ---- against the transport with a scripted backend ----

interface Call {
  req: JsonRpcRequest;
  exchange: Exchange;
  session: Session<null>;
}

/** A backend the test drives by hand: it records each request's exchange. */
class ScriptedBackend implements TransportBackend<null> {
  readonly calls: Call[] = [];
  newSessionData(): null {
    return null;
  }
  async initialize(_session: Session<null>, req: JsonRpcRequest): Promise<JsonRpcResponse> {
    const protocolVersion = typeof req.params?.protocolVersion === 'string' ? req.params.protocolVersion : '2025-11-25';
    return resultResponse(req.id, { protocolVersion, capabilities: {}, serverInfo: { name: 'scripted', version: '0' } });
  }
  request(session: Session<null>, req: JsonRpcRequest, exchange: Exchange): void {
    this.calls.push({ req, exchange, session });
  }
  notification(): void {}
  response(): void {}
  sessionEnded(): void {}
}

async function scripted(opts: Partial<TransportOptions> = {}): Promise<{ url: string; backend: ScriptedBackend; transport: StreamableHttpTransport<null>; logs: string[] }> {
  const backend = new ScriptedBackend();
  const logs: string[] = [];
  const transport = new StreamableHttpTransport(backend, { limits: LIMITS, log: (l) => logs.push(l), ...opts });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void transport.handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        transport.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, backend, transport, logs };
}

const progress = (token: string, n: number): string => JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: n } });
const note = (text: string): string => JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: text } });
const call = (id: number, name = 'x'): unknown => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } });

describe('resumability in the transport (scripted backend)', () => {
  it('delivers what a dropped POST stream missed, and its response when that comes later, exactly once', async () => {
    const { url, backend } = await scripted();
    const sid = await rawInitialize(url);
    const post = sse(url, { method: 'POST', sid, body: call(1) });
    await waitFor(() => backend.calls.length === 1, 3000, 'the call');
    const ex = backend.calls[0]!.exchange;
    ex.notify(progress('t', 1));
    await post.until((r) => r.messages.length === 1, 'first progress');
    post.drop();
    await post.done;
    await waitFor(() => !(ex as unknown as { connected: boolean }).connected, 3000, 'the drop to be noticed');
    expect(ex.open).toBe(true);
    expect(ex.notify(progress('t', 2))).toBe(true);
    expect(ex.notify(progress('t', 3))).toBe(true);
    ex.respond(resultResponse(1, { done: true }));
    expect(ex.open).toBe(false);

    const resumed = sse(url, { method: 'GET', sid, lastEventId: post.lastId! });
    expect(await resumed.done).toBe('end');
    expect(resumed.messages).toEqual([JSON.parse(progress('t', 2)), JSON.parse(progress('t', 3)), { jsonrpc: '2.0', id: 1, result: { done: true } }]);
    expect(resumed.events.map((e) => e.id)).toEqual(['1:2', '1:3', '1:4']);
  });

  it('resumes a stream that dropped before its first message, thanks to the priming event', async () => {
    const { url, backend } = await scripted({ sseAfterMs: 50 });
    const sid = await rawInitialize(url);
    const post = sse(url, { method: 'POST', sid, body: call(1) });
    await post.until((r) => r.events.length === 1, 'the priming event');
    expect(post.events).toEqual([{ id: '1:0', data: '' }]);
    post.drop();
    await post.done;
    await new Promise((r) => setTimeout(r, 50));
    backend.calls[0]!.exchange.respond(resultResponse(1, { late: true }));
    const resumed = sse(url, { method: 'GET', sid, lastEventId: '1:0' });
    expect(await resumed.done).toBe('end');
    expect(resumed.messages).toEqual([{ jsonrpc: '2.0', id: 1, result: { late: true } }]);
  });

  it('never replays across streams or sessions', async () => {
    const { url, backend, transport } = await scripted();
    const a = await rawInitialize(url);
    const b = await rawInitialize(url);
    const sessionA = transport.sessions.get(a)!;
    // Session A: a GET-stream message (no GET open: kept), and a POST stream with its own messages.
    transport.sendToSession(sessionA, note('A on GET'));
    const postA = sse(url, { method: 'POST', sid: a, body: call(1, 'a') });
    await waitFor(() => backend.calls.length === 1, 3000, 'call A');
    backend.calls[0]!.exchange.notify(note('A on POST'));
    await postA.until((r) => r.messages.length === 1, 'A post message');
    postA.drop();
    await postA.done;
    // Session B: a POST stream of its own, numbered 1 as well.
    const postB = sse(url, { method: 'POST', sid: b, body: call(2, 'b') });
    await waitFor(() => backend.calls.length === 2, 3000, 'call B');
    backend.calls[1]!.exchange.notify(note('B on POST'));
    await postB.until((r) => r.messages.length === 1, 'B post message');
    postB.drop();
    await postB.done;
    backend.calls[0]!.exchange.notify(note('A on POST, later'));
    backend.calls[1]!.exchange.notify(note('B on POST, later'));

    const resumeA = sse(url, { method: 'GET', sid: a, lastEventId: '1:0' });
    await resumeA.until((r) => r.messages.length === 2, 'A replay');
    const resumeB = sse(url, { method: 'GET', sid: b, lastEventId: '1:0' });
    await resumeB.until((r) => r.messages.length === 2, 'B replay');
    const getA = sse(url, { method: 'GET', sid: a, lastEventId: '0:0' });
    await getA.until((r) => r.messages.length === 1, 'A GET replay');
    await new Promise((r) => setTimeout(r, 100));
    const data = (r: SseRead): unknown[] => r.messages.map((m) => m.params?.data);
    expect(data(resumeA)).toEqual(['A on POST', 'A on POST, later']);
    expect(data(resumeB)).toEqual(['B on POST', 'B on POST, later']);
    expect(data(getA)).toEqual(['A on GET']);
    // B never had a GET-stream message, nor a stream 2.
    const getB = sse(url, { method: 'GET', sid: b, lastEventId: '0:0' });
    await new Promise((r) => setTimeout(r, 100));
    expect(getB.messages).toEqual([]);
    expect((await getError(url, b, '2:0')).body.error?.data?.code).toBe('UNKNOWN_EVENT_ID');
  });

  it('a capped log drops the oldest undelivered messages and says so (log line, and a comment on resume)', async () => {
    const { url, transport, logs } = await scripted({ limits: { ...LIMITS, replay: { maxEvents: 3 } } });
    const sid = await rawInitialize(url);
    const session = transport.sessions.get(sid)!;
    for (let i = 1; i <= 5; i++) transport.sendToSession(session, note(`m${i}`));
    expect(logs.filter((l) => l.includes('replay log is full'))).toHaveLength(1);
    const get = sse(url, { method: 'GET', sid });
    await get.until((r) => r.messages.length === 3, 'the kept messages');
    expect(get.events[0]).toEqual({ id: '0:0', data: '' });
    expect(get.comments.some((c) => /2 message\(s\) after event 0:0 were dropped/.test(c))).toBe(true);
    expect(get.messages.map((m) => m.params?.data)).toEqual(['m3', 'm4', 'm5']);
    expect(get.events.slice(1).map((e) => e.id)).toEqual(['0:3', '0:4', '0:5']);
    // Live messages carry on the same numbering; a resume from an old id reports its own gap.
    transport.sendToSession(session, note('m6'));
    await get.until((r) => r.messages.length === 4, 'live message');
    get.drop();
    await get.done;
    const resumed = sse(url, { method: 'GET', sid, lastEventId: '0:2' });
    await resumed.until((r) => r.messages.length === 3, 'replay after 0:2');
    expect(resumed.messages.map((m) => m.params?.data)).toEqual(['m4', 'm5', 'm6']);
    expect(resumed.comments.some((c) => /1 message\(s\) after event 0:2 were dropped/.test(c))).toBe(true);
  });

  it('refuses ids it cannot resume from with 400 UNKNOWN_EVENT_ID; an empty header is a plain GET', async () => {
    const { url, transport } = await scripted();
    const sid = await rawInitialize(url);
    for (const bad of ['nonsense', '1', '5:0', '0:99']) {
      const r = await getError(url, sid, bad);
      expect(r.status, bad).toBe(400);
      expect(r.body.error, bad).toMatchObject({ code: -32600, data: { code: 'UNKNOWN_EVENT_ID' } });
    }
    expect(transport.sessions.get(sid)?.log).toBeNull(); // refusals cost the session nothing
    const plain = sse(url, { method: 'GET', sid, lastEventId: '' });
    expect((await plain.response).status).toBe(200);
    // Unknown session: still 404, whatever the id.
    expect((await getError(url, 'nope', '0:0')).status).toBe(404);
  });

  it('primes streams only for 2025-11-25 sessions; ids are on every event of a Streamable HTTP session; JSON answers cost no log', async () => {
    const { url, backend, transport } = await scripted();
    const old = await rawInitialize(url, '2025-06-18');
    const json = rawPost(url, call(9), { 'mcp-session-id': old });
    await waitFor(() => backend.calls.length === 1, 3000, 'json call');
    backend.calls[0]!.exchange.respond(resultResponse(9, {}));
    expect(await (await json).json()).toEqual({ jsonrpc: '2.0', id: 9, result: {} });
    expect(transport.sessions.get(old)?.log).toBeNull();

    const post = sse(url, { method: 'POST', sid: old, body: call(1) });
    await waitFor(() => backend.calls.length === 2, 3000, 'sse call');
    backend.calls[1]!.exchange.notify(progress('p', 1));
    backend.calls[1]!.exchange.respond(resultResponse(1, {}));
    expect(await post.done).toBe('end');
    expect(post.events.map((e) => e.id)).toEqual(['1:1', '1:2']);
    expect(post.events.every((e) => e.data !== '')).toBe(true);
  });

  it('a resume replaces the connection a POST stream still had, and the GET stream is left alone', async () => {
    const { url, backend, transport } = await scripted();
    const sid = await rawInitialize(url);
    const get = sse(url, { method: 'GET', sid });
    await get.until((r) => r.events.length === 1, 'GET priming');
    const post = sse(url, { method: 'POST', sid, body: call(1) });
    await waitFor(() => backend.calls.length === 1, 3000, 'call');
    const ex = backend.calls[0]!.exchange;
    ex.notify(progress('p', 1));
    await post.until((r) => r.messages.length === 1, 'progress');
    const resumed = sse(url, { method: 'GET', sid, lastEventId: post.lastId! });
    expect(await post.done).toBe('end');
    ex.notify(progress('p', 2));
    transport.sendToSession(transport.sessions.get(sid)!, note('on GET'));
    ex.respond(resultResponse(1, {}));
    expect(await resumed.done).toBe('end');
    expect(progressOf(resumed.messages)).toEqual([2]);
    await get.until((r) => r.messages.length === 1, 'GET message');
    expect(get.messages[0]?.params?.data).toBe('on GET');
    expect(progressOf(get.messages)).toEqual([]);
  });
});
