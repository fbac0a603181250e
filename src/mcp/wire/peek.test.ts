import { describe, expect, it } from 'vitest';
import { peekMessage } from './peek.js';

/** The first and last `n` bytes of a serialised message, as the line splitter keeps them. */
function cut(msg: unknown, n = 64): [Buffer, Buffer] {
  const line = Buffer.from(JSON.stringify(msg));
  return [line.subarray(0, n), line.subarray(Math.max(0, line.length - n))];
}

const big = 'x'.repeat(5000);

describe('peekMessage', () => {
  it('reads an early id from the first bytes alone', () => {
    const [head] = cut({ jsonrpc: '2.0', id: 7, result: { content: [{ type: 'text', text: big }] } });
    expect(peekMessage(head, null)).toEqual({ kind: 'response', id: 7 });
  });

  it('reads a late id from the last bytes (the SDK 1.x order: result, jsonrpc, id)', () => {
    const [head, tail] = cut({ result: { content: [{ type: 'text', text: big }] }, jsonrpc: '2.0', id: 'abc' });
    expect(peekMessage(head, null)).toEqual({ kind: 'response', id: undefined });
    expect(peekMessage(head, tail)).toEqual({ kind: 'response', id: 'abc' });
  });

  it('tells server requests and notifications from responses', () => {
    const req = cut({ method: 'sampling/createMessage', params: { messages: [{ content: { type: 'text', text: big } }] }, jsonrpc: '2.0', id: 3 });
    expect(peekMessage(...req)).toEqual({ kind: 'request', id: 3 });
    const note = cut({ method: 'notifications/message', params: { level: 'info', data: big }, jsonrpc: '2.0' });
    expect(peekMessage(...note)).toEqual({ kind: 'notification', id: undefined });
    const err = cut({ jsonrpc: '2.0', id: 4, error: { code: -1, message: big } });
    expect(peekMessage(...err)).toEqual({ kind: 'response', id: 4 });
  });

  it('does not take an id nested in the result for the message id', () => {
    const [head, tail] = cut({ result: { id: 9, content: [{ type: 'text', text: big }] } });
    expect(peekMessage(head, tail)).toEqual({ kind: 'response', id: undefined });
    const nestedLast = cut({ jsonrpc: '2.0', result: { text: big, id: 9 } });
    expect(peekMessage(...nestedLast)).toEqual({ kind: 'response', id: undefined });
  });

  it('walks back over strings with escaped quotes and backslashes', () => {
    const text = `${big}\\"}"\\\\"`;
    const [head, tail] = cut({ result: { text }, note: 'a "quoted" \\ value', jsonrpc: '2.0', id: 11 }, 40);
    expect(peekMessage(head, tail)).toEqual({ kind: 'response', id: 11 });
  });

  it('knows nothing from a batch, a cut-off number or noise', () => {
    expect(peekMessage(...cut([{ jsonrpc: '2.0', id: 1, result: { text: big } }]))).toEqual({ kind: 'unknown', id: undefined });
    expect(peekMessage(Buffer.from('{"jsonrpc":"2.0","id":12'), null)).toEqual({ kind: 'unknown', id: undefined });
    expect(peekMessage(Buffer.from('not json at all'), Buffer.from('still not'))).toEqual({ kind: 'unknown', id: undefined });
    // A tail that starts inside a long id string cannot name it.
    expect(peekMessage(Buffer.from('{"result":{'), Buffer.from('bcdef"}'))).toEqual({ kind: 'response', id: undefined });
    expect(peekMessage(Buffer.from('{"result":{'), Buffer.from('456}'))).toEqual({ kind: 'response', id: undefined });
  });
});
