import type { Readable } from 'node:stream';

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;
/** Bytes kept from the start and from the end of a dropped line, so its JSON-RPC id can still be read. */
export const PEEK_BYTES = 1024;

export interface LineSplitterOptions {
  /** Longest accepted line in bytes (without the newline); longer lines are dropped. */
  maxLineBytes?: number;
  onLine(line: Buffer): void;
  /**
   * A line went over the limit (called when it does, before its end arrives), with its first bytes
   * (at most PEEK_BYTES).
   */
  onOversizeStart?(head: Buffer): void;
  /**
   * Called once per dropped oversize line when it ends, with its size and its first and last bytes
   * (at most PEEK_BYTES each). The line itself is never kept.
   */
  onOversize?(bytes: number, head: Buffer, tail: Buffer): void;
}

/**
 * Splits a byte stream into lines on `\n` (a trailing `\r` is removed). Partial lines are kept as
 * a list of chunks and joined once when their newline arrives, so a long line costs O(n).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private dropping = false;
  /** First and last bytes of the line being dropped. */
  private head: Buffer | null = null;
  private tail: Buffer | null = null;
  private readonly max: number;

  constructor(private readonly opts: LineSplitterOptions) {
    this.max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl === -1) {
        if (start < chunk.length) this.append(chunk.subarray(start));
        return;
      }
      this.append(chunk.subarray(start, nl));
      this.finishLine();
      start = nl + 1;
    }
  }

  /** Emit what is left (a last line without a newline). */
  end(): void {
    if (this.size > 0 || this.dropping) this.finishLine();
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.dropping) {
      this.size += piece.length;
      this.keepTail(piece);
      return;
    }
    if (this.size + piece.length > this.max + 1) {
      // +1 leaves room for a `\r` that is stripped later.
      this.dropping = true;
      const all = [...this.parts, piece];
      this.head = firstBytes(all, PEEK_BYTES);
      this.tail = lastBytes(all, PEEK_BYTES);
      this.size += piece.length;
      this.parts = [];
      this.opts.onOversizeStart?.(this.head);
      return;
    }
    this.parts.push(piece);
    this.size += piece.length;
  }

  /** Keep the last PEEK_BYTES of the dropped line (a copy, so no chunk stays referenced). */
  private keepTail(piece: Buffer): void {
    this.tail = lastBytes(this.tail ? [this.tail, piece] : [piece], PEEK_BYTES);
  }

  private finishLine(): void {
    if (this.dropping) {
      const { size, head, tail } = this;
      this.reset();
      this.opts.onOversize?.(size, head ?? Buffer.alloc(0), stripCr(tail ?? Buffer.alloc(0)));
      return;
    }
    let line = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size);
    this.reset();
    line = stripCr(line);
    if (line.length > this.max) {
      this.opts.onOversize?.(line.length, firstBytes([line], PEEK_BYTES), lastBytes([line], PEEK_BYTES));
      return;
    }
    if (line.length > 0) this.opts.onLine(line);
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
    this.dropping = false;
    this.head = null;
    this.tail = null;
  }
}

/** A copy of the first `n` bytes of a list of chunks. */
function firstBytes(chunks: Buffer[], n: number): Buffer {
  const out: Buffer[] = [];
  let got = 0;
  for (const c of chunks) {
    if (got >= n) break;
    const piece = c.subarray(0, n - got);
    out.push(piece);
    got += piece.length;
  }
  return Buffer.concat(out, got);
}

/** A copy of the last `n` bytes of a list of chunks. */
function lastBytes(chunks: Buffer[], n: number): Buffer {
  const out: Buffer[] = [];
  let got = 0;
  for (let i = chunks.length - 1; i >= 0 && got < n; i--) {
    const c = chunks[i]!;
    const piece = c.subarray(Math.max(0, c.length - (n - got)));
    out.unshift(piece);
    got += piece.length;
  }
  return Buffer.concat(out, got);
}

function stripCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === 0x0d ? line.subarray(0, line.length - 1) : line;
}

/** Feed a readable stream into a splitter. Returns a function that detaches it. */
export function readLines(stream: Readable, opts: LineSplitterOptions): () => void {
  const splitter = new LineSplitter(opts);
  const onData = (chunk: Buffer | string): void => splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const onEnd = (): void => splitter.end();
  stream.on('data', onData);
  stream.on('end', onEnd);
  return () => {
    stream.off('data', onData);
    stream.off('end', onEnd);
  };
}
