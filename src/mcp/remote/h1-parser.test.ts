import { describe, expect, it } from 'vitest';
import { MAX_HEAD_BYTES, ResponseParser, UpstreamProtocolError, header, parseHead, type ResponseHead } from './h1-parser.js';

interface Seen {
  head: ResponseHead | null;
  body: Buffer[];
  ends: boolean[];
}

function parser(noBody = false): { p: ResponseParser; seen: Seen } {
  const seen: Seen = { head: null, body: [], ends: [] };
  const p = new ResponseParser({
    onHead: (h) => (seen.head = h),
    onData: (c) => seen.body.push(Buffer.from(c)),
    onEnd: (r) => seen.ends.push(r),
  });
  p.reset(noBody);
  return { p, seen };
}

/** Feeds `wire` cut at every possible point into two pieces, and byte by byte; returns what each run saw. */
function everySplit(wire: string, noBody = false): Seen[] {
  const bytes = Buffer.from(wire, 'latin1');
  const runs: Seen[] = [];
  for (let cut = 0; cut <= bytes.length; cut++) {
    const { p, seen } = parser(noBody);
    if (cut > 0) p.feed(bytes.subarray(0, cut));
    if (cut < bytes.length) p.feed(bytes.subarray(cut));
    runs.push(seen);
  }
  const { p, seen } = parser(noBody);
  for (let i = 0; i < bytes.length; i++) p.feed(bytes.subarray(i, i + 1));
  runs.push(seen);
  return runs;
}

describe('ResponseParser', () => {
  it('reads a Content-Length body the same wherever the bytes are cut', () => {
    const wire = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nX-A: 1\r\nx-a: 2\r\n\r\n{"ok":true}';
    for (const seen of everySplit(wire)) {
      expect(seen.head?.status).toBe(200);
      expect(header(seen.head!.headers, 'x-a')).toBe('1, 2');
      expect(Buffer.concat(seen.body).toString()).toBe('{"ok":true}');
      expect(seen.ends).toEqual([true]);
    }
  });

  it('de-chunks a chunked body with extensions and trailers wherever the bytes are cut', () => {
    const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-type: text/event-stream\r\n\r\n' +
      '7\r\nevent: \r\n' + 'A;name=x\r\ndata: {}\n\n\r\n' + '0\r\nX-Trailer: t\r\n\r\n';
    for (const seen of everySplit(wire)) {
      expect(Buffer.concat(seen.body).toString()).toBe('event: data: {}\n\n');
      expect(seen.ends).toEqual([true]);
    }
  });

  it('marks the connection not reusable for Connection: close and HTTP/1.0', () => {
    for (const wire of ['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', 'HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n']) {
      const { p, seen } = parser();
      p.feed(Buffer.from(wire));
      expect(seen.ends).toEqual([false]);
    }
    const { p, seen } = parser();
    p.feed(Buffer.from('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n'));
    expect(seen.ends).toEqual([true]);
    expect(seen.head?.keepAliveS).toBe(5);
  });

  it('skips 1xx responses and has no body for 204, 304 and HEAD', () => {
    for (const seen of everySplit('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok')) {
      expect(seen.head?.status).toBe(202);
      expect(Buffer.concat(seen.body).toString()).toBe('ok');
    }
    for (const status of [204, 304]) {
      const { p, seen } = parser();
      p.feed(Buffer.from(`HTTP/1.1 ${status} X\r\nContent-Length: 5\r\n\r\n`));
      expect(seen.ends).toEqual([true]);
      expect(seen.body).toEqual([]);
    }
    const { p, seen } = parser(true);
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'));
    expect(p.done).toBe(true);
    expect(seen.body).toEqual([]);
  });

  it('reads a body without framing until the connection ends', () => {
    const { p, seen } = parser();
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'));
    p.feed(Buffer.from('def'));
    expect(p.readsUntilClose).toBe(true);
    expect(seen.ends).toEqual([]);
    p.end();
    expect(Buffer.concat(seen.body).toString()).toBe('abcdef');
    expect(seen.ends).toEqual([false]);
  });

  it('can be reset for the next response on the same connection', () => {
    const { p, seen } = parser();
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na'));
    p.reset(false);
    p.feed(Buffer.from('HTTP/1.1 201 OK\r\nContent-Length: 1\r\n\r\nb'));
    expect(seen.head?.status).toBe(201);
    expect(Buffer.concat(seen.body).toString()).toBe('ab');
    expect(seen.ends).toEqual([true, true]);
  });

  it.each([
    ['a bad status line', 'HTTP/2 200 OK\r\n\r\n'],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nbroken\r\n\r\n'],
    ['an obsolete folded header', 'HTTP/1.1 200 OK\r\nA: 1\r\n  folded\r\n\r\n'],
    ['a bad Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['chunk data not followed by CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc'],
    ['bytes after the response', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab'],
  ])('refuses %s', (_name, wire) => {
    const { p } = parser();
    expect(() => p.feed(Buffer.from(wire))).toThrow(UpstreamProtocolError);
  });

  it('refuses an oversized head, whole or in pieces, and a response cut short', () => {
    const big = `HTTP/1.1 200 OK\r\nX: ${'a'.repeat(MAX_HEAD_BYTES)}`;
    expect(() => parser().p.feed(Buffer.from(big))).toThrow(/larger than/);
    const { p } = parser();
    expect(() => {
      for (let i = 0; i < big.length; i += 4096) p.feed(Buffer.from(big.slice(i, i + 4096)));
    }).toThrow(/larger than/);
    const cut = parser();
    cut.p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    expect(() => cut.p.end()).toThrow(/before its response was complete/);
  });

  it('parseHead lower-cases names and keeps values as sent', () => {
    const h = parseHead('HTTP/1.1 404 Not Found\r\nMcp-Session-Id: AbC\r\nContent-Type: text/plain');
    expect(h).toEqual({ status: 404, headers: ['mcp-session-id', 'AbC', 'content-type', 'text/plain'], close: false });
  });
});
