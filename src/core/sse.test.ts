import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from './sse.js';

function parse(chunks: string[]): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  for (const c of chunks) p.push(c);
  p.end();
  return out;
}

describe('SseParser', () => {
  const stream = 'event: endpoint\ndata: /messages?sessionId=1\n\n: keepalive\n\nevent: message\ndata: {"a":\ndata: 1}\nid: 7\n\ndata: plain\n\n';

  it('parses named events, multi-line data, ids, and skips comments', () => {
    expect(parse([stream])).toEqual([
      { event: 'endpoint', data: '/messages?sessionId=1', id: undefined },
      { event: 'message', data: '{"a":\n1}', id: '7' },
      { event: 'message', data: 'plain', id: '7' },
    ]);
  });

  it('gives the same events however the text is cut, with any line ending', () => {
    const whole = parse([stream]);
    for (const eol of ['\n', '\r\n', '\r']) {
      const text = stream.replace(/\n/g, eol);
      for (let cut = 1; cut < text.length; cut++) {
        expect(parse([text.slice(0, cut), text.slice(cut)])).toEqual(whole);
      }
      expect(parse(text.split(''))).toEqual(whole);
    }
  });

  it('drops an event that the stream ends in the middle of', () => {
    expect(parse(['data: complete\n\ndata: cut off'])).toEqual([{ event: 'message', data: 'complete', id: undefined }]);
  });

  it('keeps text after the first colon, removing one leading space only', () => {
    expect(parse(['data:  two spaces: and a colon\n\n'])).toEqual([{ event: 'message', data: ' two spaces: and a colon', id: undefined }]);
  });
});
