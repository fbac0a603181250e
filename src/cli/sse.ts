import { SseParser, type SseEvent } from '../core/sse.js';

export type { SseEvent };

/** Server-Sent Events from a response body, as they complete (comments, i.e. keepalives, skipped). */
export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  const ready: SseEvent[] = [];
  const parser = new SseParser((e) => ready.push(e));
  for await (const chunk of body) {
    parser.push(decoder.decode(chunk, { stream: true }));
    yield* ready.splice(0);
  }
  parser.push(decoder.decode());
  parser.end();
  yield* ready.splice(0);
}
