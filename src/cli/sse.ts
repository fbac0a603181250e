/** A minimal Server-Sent Events reader: yields events, skips comments (keepalives). */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;

  function* takeLines(final: boolean): Generator<SseEvent> {
    for (;;) {
      const nl = buffer.search(/\r\n|\r|\n/);
      if (nl === -1) {
        // A lone trailing \r may be the first half of \r\n: wait for more unless final.
        if (!final || buffer === '') return;
        buffer += '\n';
        continue;
      }
      if (buffer[nl] === '\r' && nl === buffer.length - 1 && !final) return;
      const width = buffer.startsWith('\r\n', nl) ? 2 : 1;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + width);
      if (line === '') {
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), ...(id === undefined ? {} : { id }) };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
  }

  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    yield* takeLines(false);
  }
  buffer += decoder.decode();
  yield* takeLines(true);
}
