/**
 * How the url proxy reads what a remote sends, observed end to end: raw upstreams write exact bytes
 * (whole or cut in pieces), the client reads exactly what the proxy wrote. These carry over what the
 * hand-written parser's tests checked (ADR 9), now as behaviour of the undici-based proxy (ADR 11).
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_HEAD_BYTES } from './remote-endpoint.js';
import { ProxyRig, parseResponse, rawRequest, writeInPieces, type Front, type Upstream } from './testing/proxy-rig.js';

let rig: ProxyRig;
afterEach(async () => {
  await rig?.close();
});

/**
 * A raw upstream that answers every request on a connection with `answer` (n counts requests on that
 * connection); `closed[i]` tells whether connection i has closed.
 */
async function answering(answer: (s: Socket, n: number, req: string) => unknown): Promise<{ up: Upstream; front: Front; closed: boolean[] }> {
  rig = new ProxyRig();
  const closed: boolean[] = [];
  const up = await rig.raw((s, i) => {
    let n = 0;
    closed[i] = false;
    s.on('close', () => (closed[i] = true));
    s.on('data', (d: Buffer) => void answer(s, n++, d.toString('latin1')));
  });
  return { up, front: await rig.proxy(up.url), closed };
}

const post = (front: Front): Promise<Response> => fetch(front.url, { method: 'POST', body: '{}' });

describe('the url proxy reading remote responses', () => {
  it.each([
    ['a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nX-A: 1\r\nx-a: 2\r\n\r\n{"ok":true}', '{"ok":true}'],
    [
      'a chunked body with chunk extensions and trailers',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n7\r\nevent: \r\nA;name=x\r\ndata: {}\n\n\r\n0\r\nX-Trailer: t\r\n\r\n',
      'event: data: {}\n\n',
    ],
  ])('passes %s on byte for byte wherever the remote\'s bytes are cut, and keeps the connection', async (_name, wire, body) => {
    const { up, front } = await answering((s) => writeInPieces(s, wire));
    for (let i = 0; i < 2; i++) {
      const got = parseResponse(await rawRequest(front.port, 'POST /mcp HTTP/1.1\r\nhost: x', '{}'));
      expect(got.status).toBe(200);
      expect(got.complete).toBe(true);
      expect(got.body.toString()).toBe(body);
      if (wire.includes('X-A')) expect(got.headers['x-a']).toEqual(['1', '2']);
      expect(got.headers['x-trailer']).toBeUndefined();
    }
    expect(up.connections()).toBe(1);
  });

  it('reads a body without framing until the remote closes the connection', async () => {
    const { up, front } = await answering(async (s) => {
      await writeInPieces(s, 'HTTP/1.1 200 OK\r\n\r\nabc');
      s.end('def');
    });
    const res = await post(front);
    expect(await res.text()).toBe('abcdef');
    expect(await (await post(front)).text()).toBe('abcdef');
    expect(up.connections()).toBe(2);
  });

  it('opens a new connection after Connection: close and HTTP/1.0, and keeps an HTTP/1.0 keep-alive one', async () => {
    for (const [head, connections] of [
      ['HTTP/1.1 200 OK\r\nConnection: close', 2],
      ['HTTP/1.0 200 OK', 2],
      ['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30', 1],
    ] as const) {
      const { up, front } = await answering((s) => {
        s.write(`${head}\r\nContent-Length: 2\r\n\r\nok`);
        if (head.includes('close') || !head.includes('keep-alive')) s.end();
      });
      expect(await (await post(front)).text()).toBe('ok');
      expect(await (await post(front)).text()).toBe('ok');
      expect(up.connections(), head).toBe(connections);
      await rig.close();
    }
  });

  it('skips informational responses and sends no body for 204, 304 and HEAD', async () => {
    const { front } = await answering((s, _n, req) => {
      if (req.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
      else if (req.includes('x-want: 204')) s.write('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n');
      else if (req.includes('x-want: 304')) s.write('HTTP/1.1 304 Not Modified\r\nETag: "1"\r\n\r\n');
      else void writeInPieces(s, 'HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok');
    });
    const hinted = parseResponse(await rawRequest(front.port, 'POST /mcp HTTP/1.1\r\nhost: x', '{}'));
    expect([hinted.status, hinted.body.toString(), hinted.complete]).toEqual([202, 'ok', true]);
    for (const status of [204, 304]) {
      const got = parseResponse(await rawRequest(front.port, `GET /mcp HTTP/1.1\r\nhost: x\r\nx-want: ${status}`));
      expect([got.status, got.body.length]).toEqual([status, 0]);
      if (status === 204) expect(got.headers['content-length']).toBeUndefined();
    }
    const head = parseResponse(await rawRequest(front.port, 'HEAD /mcp HTTP/1.1\r\nhost: x'));
    expect([head.status, head.body.length, head.headers['content-length']]).toEqual([200, 0, ['5']]);
  });

  it.each([
    ['a bad status line', 'HTTP/2 200 OK\r\n\r\n'],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nbroken\r\n\r\n'],
    ['a bad Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['a transfer coding other than chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzzz'],
    ['an unsolicited 100 Continue', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['an oversized head', `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`],
    ['a 204 with a body length', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n'],
    ['a bad chunk size before any body byte', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ])('answers 502 UPSTREAM_FAILED for %s, and drops that connection', async (_name, wire) => {
    const { front, closed } = await answering((s) => s.write(wire));
    const res = await post(front);
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { data: { code: string } } }).error.data.code).toBe('UPSTREAM_FAILED');
    for (let i = 0; i < 100 && !closed[0]; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closed[0]).toBe(true);
  });

  it.each([
    ['chunk data not followed by CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc'],
    ['a body cut short', 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'],
  ])('cuts the client\'s connection for %s after body bytes went on: the client never sees a whole message', async (_name, wire) => {
    const { front } = await answering((s) => {
      s.write(wire);
      setTimeout(() => s.destroy(), 20);
    });
    const got = parseResponse(await rawRequest(front.port, 'POST /mcp HTTP/1.1\r\nhost: x', '{}'));
    expect(got.status).toBe(200);
    expect(got.complete).toBe(false);
  });

  it('does not take bytes after a response for the next one: the next request gets a clean answer', async () => {
    let answered = 0;
    const { front } = await answering((s) =>
      s.write(answered++ === 0 ? 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nforge' : 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntrue'),
    );
    expect(await (await post(front)).text()).toBe('a');
    await new Promise((r) => setTimeout(r, 20));
    const next = await post(front);
    expect([next.status, await next.text()]).toEqual([200, 'true']);
  });
});
