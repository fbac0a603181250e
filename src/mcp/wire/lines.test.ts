import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LineSplitter, PEEK_BYTES, readLines } from './lines.js';
import { errorResponse, isMessage, isNotification, isRequest, isResponse } from './jsonrpc.js';

function split(chunks: (string | Buffer)[], max?: number): { lines: string[]; oversize: number[] } {
  const lines: string[] = [];
  const oversize: number[] = [];
  const s = new LineSplitter({ maxLineBytes: max, onLine: (l) => lines.push(l.toString('utf8')), onOversize: (n) => oversize.push(n) });
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c);
  s.end();
  return { lines, oversize };
}

describe('LineSplitter', () => {
  it('splits on \\n, strips \\r, joins lines across chunks and skips empty lines', () => {
    expect(split(['a\r\nb', 'c\n\n', 'd\r', '\ne']).lines).toEqual(['a', 'bc', 'd', 'e']);
  });

  it('keeps multi-byte characters split across chunks intact', () => {
    const buf = Buffer.from('héllo→wörld\n');
    expect(split([buf.subarray(0, 2), buf.subarray(2, 8), buf.subarray(8)]).lines).toEqual(['héllo→wörld']);
  });

  it('drops lines over the limit and carries on', () => {
    const r = split(['short\n', 'x'.repeat(10), 'y'.repeat(10), '\nnext\n'], 15);
    expect(r.lines).toEqual(['short', 'next']);
    expect(r.oversize).toEqual([20]);
  });

  it('keeps only the first and last bytes of a dropped line, and says when it goes over', () => {
    const starts: string[] = [];
    const ends: { bytes: number; head: string; tail: string }[] = [];
    const s = new LineSplitter({
      maxLineBytes: 3000,
      onLine: () => {},
      onOversizeStart: (head) => starts.push(head.toString()),
      onOversize: (bytes, head, tail) => ends.push({ bytes, head: head.toString(), tail: tail.toString() }),
    });
    const body = 'a'.repeat(PEEK_BYTES) + 'm'.repeat(5000) + 'z'.repeat(PEEK_BYTES - 3);
    const line = `<${body}>\r`;
    for (let i = 0; i < line.length; i += 700) {
      s.push(Buffer.from(line.slice(i, i + 700)));
      // The start is reported as soon as the line crosses the limit, before its end.
      if (i + 700 > 3001 && i + 700 < line.length) expect(starts).toHaveLength(1);
    }
    expect(ends).toHaveLength(0);
    s.push(Buffer.from('\nnext'));
    expect(starts).toEqual([`<${'a'.repeat(PEEK_BYTES - 1)}`]);
    expect(ends).toEqual([{ bytes: line.length, head: `<${'a'.repeat(PEEK_BYTES - 1)}`, tail: `m${'z'.repeat(PEEK_BYTES - 3)}>` }]);
  });

  it('joins a 20 MB line from 64 KiB chunks in linear time', () => {
    const size = 20 * 1024 * 1024;
    const line = Buffer.alloc(size, 0x61);
    const got: number[] = [];
    const s = new LineSplitter({ onLine: (l) => got.push(l.length) });
    const started = Date.now();
    for (let i = 0; i < size; i += 65536) s.push(line.subarray(i, i + 65536));
    s.push(Buffer.from('\n'));
    expect(got).toEqual([size]);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reads lines from a stream, including a last line without newline', async () => {
    const stream = new PassThrough();
    const lines: string[] = [];
    readLines(stream, { onLine: (l) => lines.push(l.toString()) });
    stream.write('one\ntw');
    stream.end('o');
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual(['one', 'two']);
  });
});

describe('JSON-RPC guards', () => {
  it('tells requests, notifications and responses apart', () => {
    const req = { jsonrpc: '2.0', id: 1, method: 'x' };
    const note = { jsonrpc: '2.0', method: 'x' };
    const ok = { jsonrpc: '2.0', id: 'a', result: {} };
    const err = errorResponse(null, -32700, 'bad');
    expect([isRequest(req), isNotification(req), isResponse(req)]).toEqual([true, false, false]);
    expect([isRequest(note), isNotification(note), isResponse(note)]).toEqual([false, true, false]);
    expect([isRequest(ok), isNotification(ok), isResponse(ok)]).toEqual([false, false, true]);
    expect(isResponse(err)).toBe(true);
    for (const bad of [null, [], { id: 1, method: 'x' }, { jsonrpc: '2.0', id: {}, method: 'x' }, { jsonrpc: '2.0', id: 1 }, { jsonrpc: '2.0', id: 1, result: 1, error: {} }]) {
      expect(isMessage(bad)).toBe(false);
    }
  });
});
