import { request, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../testing/helpers.js';
import { RemoteAddressPolicy } from './ssrf.js';
import { ProxyRig, parseResponse, rawRequest } from './testing/proxy-rig.js';

let rig: ProxyRig;
afterEach(async () => {
  await rig?.close();
});
const fresh = (): ProxyRig => (rig = new ProxyRig());

/** A well-formed answer the raw upstreams give: `body` with its Content-Length. */
const ok = (body = 'ok', extra = ''): string => `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

/** The JSON-RPC error body's stable code, as the gateway sends it. */
async function errorCode(res: Response): Promise<string | undefined> {
  return ((await res.json()) as { error?: { data?: { code?: string } } }).error?.data?.code;
}

describe('RemoteEndpoint: the url proxy over undici', () => {
  it('passes method, body and end-to-end headers both ways, and drops hop-by-hop ones and the client\'s credential', async () => {
    let seen: Record<string, string | string[] | undefined> = {};
    let seenBody = '';
    const up = await fresh().http((req, res) => {
      seen = req.headers;
      req.on('data', (c: Buffer) => (seenBody += c.toString()));
      req.on('end', () => {
        res.setHeader('x-a', ['1', '2']);
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.setHeader('x-hop-back', 'secret');
        res.setHeader('connection', 'x-hop-back');
        res.setHeader('content-type', 'application/json');
        res.end(`${req.method} ${seenBody}`);
      });
    });
    const front = await rig.proxy(up.url, { headers: { authorization: 'Bearer for-the-remote', 'x-config': 'c' } });
    // node's client, not fetch: fetch will not send a Connection header.
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(front.url, {
        method: 'POST',
        headers: { 'x-custom': 'kept', connection: 'keep-alive, x-hop', 'x-hop': 'dropped', authorization: 'Bearer berth-token', te: 'trailers', 'proxy-authorization': 'p', 'x-config': 'client' },
      });
      req.on('response', resolve).on('error', reject);
      req.end('{"jsonrpc":"2.0"}');
    });
    let text = '';
    for await (const c of res) text += String(c);
    expect(res.statusCode).toBe(200);
    expect(text).toBe('POST {"jsonrpc":"2.0"}');
    expect(res.headers['x-a']).toBe('1, 2');
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['x-hop-back']).toBeUndefined();
    expect(seen['x-custom']).toBe('kept');
    expect(seen.authorization).toBe('Bearer for-the-remote');
    expect(seen['x-config']).toBe('c');
    for (const h of ['x-hop', 'te', 'proxy-authorization']) expect(seen[h], h).toBeUndefined();
    expect(seen.host).toBe(new URL(up.url).host);
  });

  it('sends no Authorization the deployment did not configure', async () => {
    let auth: string | undefined = 'unset';
    const up = await fresh().http((req, res) => res.end(String((auth = req.headers.authorization))));
    const front = await rig.proxy(up.url);
    await (await fetch(front.url, { method: 'POST', headers: { authorization: 'Bearer berth-token' }, body: '{}' })).text();
    expect(auth).toBeUndefined();
  });

  it('reuses one keep-alive connection for sequential requests', async () => {
    const up = await fresh().http((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.end(`${req.method} ${body}`));
    });
    const front = await rig.proxy(up.url);
    for (let i = 0; i < 20; i++) {
      const res = await fetch(front.url, { method: 'POST', body: `n${i}` });
      expect(await res.text()).toBe(`POST n${i}`);
    }
    expect(up.connections()).toBe(1);
  });

  it('opens at most `connections` connections and answers every queued request', async () => {
    const up = await fresh().http((req, res) => setTimeout(() => res.end(req.url), 10));
    const front = await rig.proxy(up.url, { connections: 3 });
    const answers = await Promise.all(Array.from({ length: 6 }, async () => (await fetch(front.url)).text()));
    expect(answers.every((a) => a === '/mcp')).toBe(true);
    expect(up.most()).toBe(3);
  });

  it('refuses requests beyond twice its connections (503) instead of queueing them without end', async () => {
    const held: (() => void)[] = [];
    const up = await fresh().http((_req, res) => held.push(() => res.end('done')));
    const front = await rig.proxy(up.url, { connections: 1 });
    const first = fetch(front.url, { method: 'POST', body: '1' });
    const queued = fetch(front.url, { method: 'POST', body: '2' });
    await waitFor(() => front.endpoint.stats().inFlight === 2 && held.length === 1, 2000, 'one request at the remote, one queued');
    const refused = await fetch(front.url, { method: 'POST', body: '3' });
    expect(refused.status).toBe(503);
    expect(await errorCode(refused)).toBe('UPSTREAM_UNAVAILABLE');
    held.shift()!();
    expect(await (await first).text()).toBe('done');
    await waitFor(() => held.length === 1, 2000, 'the queued request to reach the remote');
    held.shift()!();
    expect(await (await queued).text()).toBe('done');
    expect(up.connections()).toBe(1);
  });

  it('never sends a POST twice: the remote closing a reused connection as the next POST arrives fails that POST', async () => {
    const arrivals: string[] = [];
    const up = await fresh().raw((s) => {
      let served = 0;
      s.on('data', (d: Buffer) => {
        arrivals.push(d.toString('latin1').split('\r\n\r\n')[1] ?? '');
        // The first request on a connection is answered; the second finds the connection closing (a keep-alive timeout racing it).
        if (served++ === 0) s.write(ok());
        else s.destroy();
      });
    });
    const front = await rig.proxy(up.url);
    expect(await (await fetch(front.url, { method: 'POST', body: 'first' })).text()).toBe('ok');
    const second = await fetch(front.url, { method: 'POST', body: 'tools/call' });
    expect(second.status).toBe(502);
    expect(await errorCode(second)).toBe('UPSTREAM_FAILED');
    await new Promise((r) => setTimeout(r, 100)); // room for a retry that must not come
    expect(arrivals.filter((a) => a === 'tools/call')).toHaveLength(1);
    expect(up.connections()).toBe(1);
    // The pool is not stuck: the next call gets a new connection.
    expect(await (await fetch(front.url, { method: 'POST', body: 'third' })).text()).toBe('ok');
  });

  it('times out (504) when the head does not come, and says unreachable (503) when nothing listens', async () => {
    const silent = await fresh().raw((s) => s.resume());
    const front = await rig.proxy(silent.url, { timeoutMs: 200 });
    const started = Date.now();
    const res = await fetch(front.url, { method: 'POST', body: '{}' });
    expect(res.status).toBe(504);
    expect(await errorCode(res)).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);

    const gone = await fresh().raw(() => {});
    await rig.close(); // nothing listens on that port any more
    const refused = await fresh().proxy(gone.url);
    const r = await fetch(refused.url, { method: 'POST', body: '{}' });
    expect(r.status).toBe(503);
    const body = (await r.json()) as { error: { message: string; data: { code: string } } };
    expect(body.error.data.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(body.error.message).toMatch(/ECONNREFUSED|unreachable/);
  });

  it('streams a large body with back-pressure: while the client does not read, the remote is held up', async () => {
    const piece = Buffer.alloc(64 * 1024, 'x');
    const pieces = 512; // 32 MiB: more than the sockets between remote, proxy and client can buffer
    let written = 0;
    const up = await fresh().http((_req, res) => {
      const write = (): void => {
        while (written < pieces) {
          written++;
          if (!res.write(piece)) return void res.once('drain', write);
        }
        res.end();
      };
      write();
    });
    const front = await rig.proxy(up.url);
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      const req = request(front.url, (res) => {
        res.pause();
        setTimeout(() => {
          try {
            expect(written).toBeLessThan(pieces); // the proxy did not read it all into memory
          } catch (err) {
            reject(err as Error);
            return;
          }
          res.on('data', (c: Buffer) => (received += c.length));
          res.on('end', () => resolve());
          res.resume();
        }, 400);
      });
      req.on('error', reject);
      req.end();
    });
    expect(received).toBe(pieces * piece.length);
  });

  it('delivers each event of a slow stream as it comes, and a client that goes away closes the remote connection', async () => {
    let upstreamClosed = false;
    let requests = 0;
    const up = await fresh().http((req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const t = setInterval(() => res.write(`data: ${n++}\n\n`), 20);
      req.socket.on('close', () => {
        upstreamClosed = true;
        clearInterval(t);
      });
    });
    const front = await rig.proxy(up.url);
    const ac = new AbortController();
    const res = await fetch(front.url, { signal: ac.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('data: 2')) text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await waitFor(() => upstreamClosed, 2000, 'the remote connection to close');
    await new Promise((r) => setTimeout(r, 200));
    // Nothing is sent again (undici may open a spare connection when it drops an aborted request's one).
    expect(requests).toBe(1);
    expect(up.most()).toBe(1);
    expect(front.endpoint.stats().inFlight).toBe(0);
  });

  it('passes a redirect to the client instead of following it', async () => {
    const elsewhere = await fresh().http((_req, res) => res.end('followed'));
    const up = await rig.http((_req, res) => res.writeHead(307, { location: elsewhere.url }).end());
    const front = await rig.proxy(up.url);
    const res = await fetch(front.url, { method: 'POST', body: '{}', redirect: 'manual' });
    expect(res.status).toBe(307);
    expect(res.headers.get('location')).toBe(elsewhere.url);
    expect(elsewhere.connections()).toBe(0);
  });

  it('connects to no address the guard refuses: 503 naming BERTH_REMOTE_ALLOW, and the probe fails REMOTE_ADDRESS_FORBIDDEN', async () => {
    const up = await fresh().http((_req, res) => res.end('reached'));
    const front = await rig.proxy(up.url, { guard: new RemoteAddressPolicy([]) });
    const res = await fetch(front.url, { method: 'POST', body: '{}' });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/127\.0\.0\.1 is a loopback address, not allowed unless BERTH_REMOTE_ALLOW lists loopback/);
    await expect(front.endpoint.probe(2000)).rejects.toMatchObject({ code: 'REMOTE_ADDRESS_FORBIDDEN' });
    expect(up.connections()).toBe(0);
  });

  it('a response with both Transfer-Encoding and Content-Length never reaches the client with a length that lies', async () => {
    const up = await fresh().raw((s) =>
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\ncontent-type: application/json\r\n\r\n3\r\nabc\r\n0\r\n\r\n')),
    );
    const front = await rig.proxy(up.url);
    const got = parseResponse(await rawRequest(front.port, 'POST /mcp HTTP/1.1\r\nhost: x', '{}'));
    // Either a clear 502, or a message whose own framing is whole and true: never both framings, never a short body.
    expect(got.complete).toBe(true);
    expect(got.headers['transfer-encoding'] && got.headers['content-length']).toBeFalsy();
    if (got.status === 502) expect(JSON.parse(got.body.toString()).error.data.code).toBe('UPSTREAM_FAILED');
    else expect(got.body.toString()).toBe('abc');
  });
});
