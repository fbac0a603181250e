import { describe, expect, it } from 'vitest';
import { parseSse } from './sse.js';

async function collect(chunks: string[]) {
  const enc = new TextEncoder();
  async function* body() {
    for (const c of chunks) yield enc.encode(c);
  }
  const out = [];
  for await (const e of parseSse(body())) out.push(e);
  return out;
}

describe('parseSse', () => {
  it('parses events split across chunks, with CRLF, comments and multi-line data', async () => {
    const text = ': keepalive\r\n\r\nevent: log\r\ndata: {"a":1}\r\n\r\nevent: log\ndata: x\ndata:y\nid: 7\n\n: ping\n\ndata: plain\n\n';
    const chunks = text.split('').reduce<string[]>((acc, ch, i) => (i % 3 === 0 ? [...acc, ch] : [...acc.slice(0, -1), `${acc.at(-1)}${ch}`]), []);
    expect(await collect(chunks)).toEqual([
      { event: 'log', data: '{"a":1}' },
      { event: 'log', data: 'x\ny', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
    ]);
  });

  it('keeps multi-byte characters split between chunks and drops an unterminated event', async () => {
    const bytes = new TextEncoder().encode('data: é✓\n\ndata: cut');
    async function* body() {
      yield bytes.slice(0, 7);
      yield bytes.slice(7);
    }
    const out = [];
    for await (const e of parseSse(body())) out.push(e);
    expect(out).toEqual([{ event: 'message', data: 'é✓' }]);
  });
});
