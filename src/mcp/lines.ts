import type { Readable } from 'node:stream';

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

export interface LineSplitterOptions {
  /** Longest accepted line in bytes (without the newline); longer lines are dropped. */
  maxLineBytes?: number;
  onLine(line: Buffer): void;
  /** Called once per dropped oversize line, with its size so far. */
  onOversize?(bytes: number): void;
}

/**
 * Splits a byte stream into lines on `\n` (a trailing `\r` is removed). Partial lines are kept as
 * a list of chunks and joined once when their newline arrives, so a long line costs O(n).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private dropping = false;
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
    if (piece.length === 0 || this.dropping) return;
    if (this.size + piece.length > this.max + 1) {
      // +1 leaves room for a `\r` that is stripped later.
      this.dropping = true;
      this.size += piece.length;
      this.parts = [];
      return;
    }
    this.parts.push(piece);
    this.size += piece.length;
  }

  private finishLine(): void {
    if (this.dropping) {
      this.opts.onOversize?.(this.size);
      this.reset();
      return;
    }
    let line = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.size);
    this.reset();
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    if (line.length > this.max) {
      this.opts.onOversize?.(line.length);
      return;
    }
    if (line.length > 0) this.opts.onLine(line);
  }

  private reset(): void {
    this.parts = [];
    this.size = 0;
    this.dropping = false;
  }
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
