/** One server-sent event: its `event` name (default `message`), its `data` lines joined with `\n`, and its `id`. */
export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * An incremental `text/event-stream` parser (the WHATWG event-stream format): feed it text as it
 * arrives, in chunks cut anywhere; it calls `onEvent` once per complete event. Lines end with
 * `\r\n`, `\n` or `\r`; comment lines (`:`) and unknown fields are ignored; an event with no data
 * is not dispatched.
 */
export class SseParser {
  private pending = '';
  /** A chunk ended with `\r`: a `\n` starting the next chunk belongs to the same line end. */
  private skipLf = false;
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  constructor(private readonly onEvent: (e: SseEvent) => void) {}

  push(chunk: string): void {
    let text = chunk;
    if (this.skipLf) {
      this.skipLf = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.pending + text.slice(start, i);
      this.pending = '';
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLf = true;
        }
      }
      start = i + 1;
      this.line(line);
    }
    this.pending += text.slice(start);
  }

  /** The stream ended: an event not terminated by a blank line is dropped (as the format says). */
  end(): void {
    this.pending = '';
    this.reset();
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onEvent({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      default:
        break;
    }
  }

  private reset(): void {
    this.event = '';
    this.data = [];
  }
}
