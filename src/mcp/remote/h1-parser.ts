/**
 * An incremental HTTP/1.1 response parser for the url proxy's upstream connections:
 * status line and headers, then the body framed by Content-Length, chunked encoding or the connection's end.
 * It hands body bytes on as slices of the buffers it is fed (no copies), so they can be written straight on.
 */

/** Largest status line + header block accepted from an upstream. */
export const MAX_HEAD_BYTES = 64 * 1024;
/** Longest chunk-size line (hex digits, extensions) accepted. */
const MAX_CHUNK_LINE = 1024;

export interface ResponseHead {
  status: number;
  /** Header names in lower case and their values, in the order received: `[name, value, name, value, …]`. */
  headers: string[];
  /** The upstream will close the connection after this response. */
  close: boolean;
  /** Seconds from `Keep-Alive: timeout=N`, when the upstream sent one. */
  keepAliveS?: number;
}

export interface ParserSink {
  onHead(head: ResponseHead): void;
  onData(chunk: Buffer): void;
  /** The body is complete; `reusable` when the connection can carry another request. */
  onEnd(reusable: boolean): void;
}

export class UpstreamProtocolError extends Error {}

const enum State {
  Head,
  Fixed,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const CR = 13;
const LF = 10;

export class ResponseParser {
  private state = State.Done;
  private head: Buffer | null = null;
  private remaining = 0;
  private line = '';
  private close = false;
  private noBody = false;

  constructor(private readonly sink: ParserSink) {}

  /** Expect a new response; `noBody`: the request was HEAD (no body whatever the headers say). */
  reset(noBody: boolean): void {
    this.state = State.Head;
    this.head = null;
    this.remaining = 0;
    this.line = '';
    this.close = false;
    this.noBody = noBody;
  }

  /** True once the response is complete. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** True while a body read until the connection closes is in progress. */
  get readsUntilClose(): boolean {
    return this.state === State.UntilClose;
  }

  /** Feeds bytes from the socket. Throws UpstreamProtocolError on malformed input; bytes after the response are an error too. */
  feed(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case State.Head:
          i = this.feedHead(buf, i);
          break;
        case State.Fixed: {
          const n = Math.min(this.remaining, buf.length - i);
          this.remaining -= n;
          this.sink.onData(i === 0 && n === buf.length ? buf : buf.subarray(i, i + n));
          i += n;
          if (this.remaining === 0) this.finish();
          break;
        }
        case State.ChunkSize:
          i = this.feedChunkSize(buf, i);
          break;
        case State.ChunkData: {
          const n = Math.min(this.remaining, buf.length - i);
          this.remaining -= n;
          this.sink.onData(buf.subarray(i, i + n));
          i += n;
          if (this.remaining === 0) {
            this.state = State.ChunkDataEnd;
            this.remaining = 2;
          }
          break;
        }
        case State.ChunkDataEnd: {
          const expected = this.remaining === 2 ? CR : LF;
          if (buf[i] !== expected) throw new UpstreamProtocolError('chunk data is not followed by CRLF');
          i++;
          if (--this.remaining === 0) this.state = State.ChunkSize;
          break;
        }
        case State.Trailers:
          i = this.feedTrailers(buf, i);
          break;
        case State.UntilClose:
          this.sink.onData(i === 0 ? buf : buf.subarray(i));
          i = buf.length;
          break;
        case State.Done:
          throw new UpstreamProtocolError('upstream sent bytes after the end of its response');
      }
    }
  }

  /** The connection ended; completes a read-until-close body, else throws if the response was cut short. */
  end(): void {
    if (this.state === State.UntilClose) {
      this.state = State.Done;
      this.sink.onEnd(false);
      return;
    }
    if (this.state !== State.Done) throw new UpstreamProtocolError('upstream closed the connection before its response was complete');
  }

  private feedHead(buf: Buffer, start: number): number {
    const joined = this.head ? Buffer.concat([this.head, buf.subarray(start)]) : start === 0 ? buf : buf.subarray(start);
    // The blank line may straddle the previous buffer: search from a little before the new bytes.
    const from = this.head ? Math.max(0, this.head.length - 3) : 0;
    const end = joined.indexOf('\r\n\r\n', from, 'latin1');
    if (end < 0) {
      if (joined.length > MAX_HEAD_BYTES) throw new UpstreamProtocolError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
      this.head = joined === buf ? Buffer.from(buf) : joined;
      return buf.length;
    }
    if (end > MAX_HEAD_BYTES) throw new UpstreamProtocolError(`response head larger than ${MAX_HEAD_BYTES} bytes`);
    const consumedFromBuf = end + 4 - (this.head?.length ?? 0);
    this.head = null;
    const head = parseHead(joined.toString('latin1', 0, end));
    if (head.status < 200) {
      // 1xx (e.g. 100 Continue): informational, the real response follows.
      return start + consumedFromBuf;
    }
    this.close = head.close;
    this.sink.onHead(head);
    this.startBody(head);
    return start + consumedFromBuf;
  }

  private startBody(head: ResponseHead): void {
    if (this.noBody || head.status === 204 || head.status === 304) return this.finish();
    const te = header(head.headers, 'transfer-encoding');
    if (te !== undefined) {
      if (!/(^|,)\s*chunked\s*$/i.test(te)) {
        this.state = State.UntilClose;
        return;
      }
      this.state = State.ChunkSize;
      this.line = '';
      return;
    }
    const cl = header(head.headers, 'content-length');
    if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl.trim())) throw new UpstreamProtocolError(`invalid Content-Length ${JSON.stringify(cl)}`);
      this.remaining = Number(cl.trim());
      if (this.remaining === 0) return this.finish();
      this.state = State.Fixed;
      return;
    }
    this.state = State.UntilClose;
  }

  private feedChunkSize(buf: Buffer, start: number): number {
    const lf = buf.indexOf(LF, start);
    const stop = lf < 0 ? buf.length : lf;
    this.line += buf.toString('latin1', start, stop);
    if (this.line.length > MAX_CHUNK_LINE) throw new UpstreamProtocolError('chunk size line too long');
    if (lf < 0) return buf.length;
    const text = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line;
    this.line = '';
    const digits = text.split(';', 1)[0]!.trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(digits)) throw new UpstreamProtocolError(`invalid chunk size ${JSON.stringify(text.slice(0, 40))}`);
    const size = parseInt(digits, 16);
    if (size === 0) this.state = State.Trailers;
    else {
      this.remaining = size;
      this.state = State.ChunkData;
    }
    return lf + 1;
  }

  private feedTrailers(buf: Buffer, start: number): number {
    // Trailer lines are read and dropped; an empty line ends the message.
    let i = start;
    while (i < buf.length) {
      const lf = buf.indexOf(LF, i);
      const stop = lf < 0 ? buf.length : lf;
      this.line += buf.toString('latin1', i, stop);
      if (this.line.length > MAX_HEAD_BYTES) throw new UpstreamProtocolError('trailers too long');
      if (lf < 0) return buf.length;
      const text = this.line;
      this.line = '';
      i = lf + 1;
      if (text === '' || text === '\r') {
        this.finish();
        return i;
      }
    }
    return i;
  }

  private finish(): void {
    this.state = State.Done;
    this.sink.onEnd(!this.close);
  }
}

/** Parses `HTTP/1.x NNN reason` and the header lines of a response head (without the final blank line). */
export function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) throw new UpstreamProtocolError(`invalid status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers: string[] = [];
  let close = m[1] === '0';
  let keepAliveS: number | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0 || line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) throw new UpstreamProtocolError(`invalid header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'connection') {
      const v = value.toLowerCase();
      if (v.includes('close')) close = true;
      else if (v.includes('keep-alive')) close = false;
    } else if (name === 'keep-alive') {
      const t = /timeout=(\d+)/i.exec(value);
      if (t) keepAliveS = Number(t[1]);
    }
    headers.push(name, value);
  }
  return { status: Number(m[2]), headers, close, ...(keepAliveS !== undefined ? { keepAliveS } : {}) };
}

/** The value of header `name` (lower case) in a flat `[name, value, …]` list; several are joined with `, `. */
export function header(headers: string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === name) found = found === undefined ? headers[i + 1] : `${found}, ${headers[i + 1]}`;
  }
  return found;
}
