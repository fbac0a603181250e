import { closeSync, fstatSync, mkdirSync, openSync, readSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { LogEntry, LogStore, LogStream } from './logs.js';

export interface FileLogStoreOptions {
  /** Directory holding `<deploymentId>.log` (and one rotated `<deploymentId>.log.1`). */
  dir: string;
  /** Entries kept in memory per deployment for fast `read`/`follow` (default 1000). */
  ringSize?: number;
  /** Size at which `.log` is rotated to `.log.1` (default 10 MiB). Two files are kept at most. */
  maxFileBytes?: number;
  /** Lines longer than this (UTF-8 bytes, default 16 KiB) are cut and marked. */
  maxLineBytes?: number;
  /** How long appended lines may wait before they are written (default 50 ms). */
  flushIntervalMs?: number;
  /** Applied to every line before it is stored or shown to followers (secret redaction: src/secrets/redactor.ts). */
  redact?: (line: string, deploymentId: string) => string;
  /** Write failures end up here (default: a line on stderr). */
  onError?: (err: unknown) => void;
}

interface State {
  id: string;
  seq: number;
  ring: LogEntry[];
  /** True while the ring holds every entry that exists on disk, so reads never need the files. */
  ringHasAll: boolean;
  followers: Set<(e: LogEntry) => void>;
  pending: string[];
  pendingBytes: number;
  size: number;
  timer: NodeJS.Timeout | null;
  /** Serialises writes and rotations of this deployment's file. */
  chain: Promise<void>;
}

const ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const TAIL_SCAN_BYTES = 1024 * 1024;
const EAGER_FLUSH_BYTES = 256 * 1024;

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`FileLogStore: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

function parseLines(text: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    try {
      const e = JSON.parse(raw) as LogEntry;
      if (typeof e.seq === 'number' && typeof e.line === 'string') out.push(e);
    } catch {
      /* a torn line from a crash mid-write */
    }
  }
  return out;
}

/** Reads up to TAIL_SCAN_BYTES from the end of a file; `whole` says whether that was all of it. */
function readTailSync(file: string): { text: string; size: number; whole: boolean; endsWithNewline: boolean } | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, TAIL_SCAN_BYTES);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    let text = buf.toString('utf8');
    if (len < size) text = text.slice(text.indexOf('\n') + 1); // drop the partial first line
    return { text, size, whole: len === size, endsWithNewline: len === 0 || buf[len - 1] === 0x0a };
  } finally {
    closeSync(fd);
  }
}

/**
 * Append-only JSON-lines log per deployment, with an in-memory ring for reads and follows.
 * `append` never blocks on disk: lines are buffered and written in batches; `close` flushes.
 */
export class FileLogStore implements LogStore {
  private readonly dir: string;
  private readonly ringSize: number;
  private readonly maxFileBytes: number;
  private readonly maxLineBytes: number;
  private readonly flushIntervalMs: number;
  private readonly redact: ((line: string, deploymentId: string) => string) | undefined;
  private readonly onError: (err: unknown) => void;
  private readonly states = new Map<string, State>();
  private closed = false;

  constructor(opts: FileLogStoreOptions) {
    if (!opts || typeof opts.dir !== 'string' || opts.dir === '') throw new Error('FileLogStore: dir is required');
    if (opts.redact !== undefined && typeof opts.redact !== 'function') throw new Error('FileLogStore: redact must be a function');
    this.dir = path.resolve(opts.dir);
    this.ringSize = positiveInt('ringSize', opts.ringSize ?? 1000);
    this.maxFileBytes = positiveInt('maxFileBytes', opts.maxFileBytes ?? 10 * 1024 * 1024);
    this.maxLineBytes = positiveInt('maxLineBytes', opts.maxLineBytes ?? 16 * 1024);
    if (this.maxLineBytes < 128) throw new Error('FileLogStore: maxLineBytes must be at least 128');
    this.flushIntervalMs = opts.flushIntervalMs ?? 50;
    if (!Number.isInteger(this.flushIntervalMs) || this.flushIntervalMs < 0) throw new Error('FileLogStore: flushIntervalMs must be a non-negative integer');
    this.redact = opts.redact;
    this.onError = opts.onError ?? ((err) => process.stderr.write(`FileLogStore: ${String(err)}\n`));
    // Logs may quote what servers print: only Berth's user reads them.
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  private file(id: string): string {
    return path.join(this.dir, `${id}.log`);
  }

  /** First use of a deployment: one synchronous look at the file's tail for the last seq and the ring. */
  private state(id: string): State {
    const existing = this.states.get(id);
    if (existing) return existing;
    if (!ID.test(id)) throw new Error(`FileLogStore: invalid deployment id ${JSON.stringify(id)}`);
    const st: State = { id, seq: 0, ring: [], ringHasAll: true, followers: new Set(), pending: [], pendingBytes: 0, size: 0, timer: null, chain: Promise.resolve() };
    const cur = readTailSync(this.file(id));
    let entries = cur ? parseLines(cur.text) : [];
    let whole = cur ? cur.whole : true;
    if (cur) {
      st.size = cur.size;
      if (!cur.endsWithNewline) this.queue(st, '\n'); // seal a line torn by a crash
    }
    if (entries.length < this.ringSize && whole) {
      const old = readTailSync(`${this.file(id)}.1`);
      if (old) {
        entries = [...parseLines(old.text), ...entries];
        whole = old.whole;
      }
    }
    st.seq = entries.at(-1)?.seq ?? 0;
    st.ring = entries.slice(-this.ringSize);
    st.ringHasAll = whole && entries.length <= this.ringSize;
    this.states.set(id, st);
    return st;
  }

  private clean(line: string, deploymentId: string): string {
    let out = line;
    if (this.redact) {
      try {
        out = this.redact(out, deploymentId);
      } catch {
        out = '[line dropped: redaction failed]';
      }
    }
    const bytes = Buffer.byteLength(out);
    if (bytes <= this.maxLineBytes) return out;
    const keep = this.maxLineBytes - 64;
    const head = Buffer.from(out).subarray(0, keep).toString('utf8').replace(/\uFFFD+$/, '');
    return `${head}…[truncated ${bytes - Buffer.byteLength(head)} bytes]`;
  }

  append(deploymentId: string, stream: LogStream, line: string): void {
    if (this.closed) return;
    const st = this.state(deploymentId);
    const entry: LogEntry = { seq: ++st.seq, ts: new Date().toISOString(), stream, line: this.clean(line, deploymentId) };
    st.ring.push(entry);
    if (st.ring.length > this.ringSize) {
      st.ring.shift();
      st.ringHasAll = false;
    }
    this.queue(st, `${JSON.stringify(entry)}\n`);
    for (const f of st.followers) {
      try {
        f(entry);
      } catch {
        /* a broken follower must not break logging */
      }
    }
  }

  private queue(st: State, text: string): void {
    st.pending.push(text);
    st.pendingBytes += text.length;
    if (st.pendingBytes >= EAGER_FLUSH_BYTES) this.flushState(st);
    else st.timer ??= setTimeout(() => this.flushState(st), this.flushIntervalMs);
  }

  private flushState(st: State): Promise<void> {
    if (st.timer) clearTimeout(st.timer);
    st.timer = null;
    if (st.pending.length === 0) return st.chain;
    const data = st.pending.join('');
    st.pending = [];
    st.pendingBytes = 0;
    st.chain = st.chain.then(() => this.write(st, data)).catch((err: unknown) => this.onError(err));
    return st.chain;
  }

  private async write(st: State, data: string): Promise<void> {
    const id = st.id;
    const bytes = Buffer.byteLength(data);
    if (st.size > 0 && st.size + bytes > this.maxFileBytes) {
      await fsp.rename(this.file(id), `${this.file(id)}.1`).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      st.size = 0;
    }
    await fsp.appendFile(this.file(id), data, { mode: 0o600 });
    st.size += bytes;
  }

  async read(deploymentId: string, opts: { tail?: number } = {}): Promise<LogEntry[]> {
    const tail = opts.tail ?? 200;
    if (tail <= 0) return [];
    const st = this.state(deploymentId);
    if (tail <= st.ring.length || st.ringHasAll) return st.ring.slice(-tail);
    await this.flushState(st);
    const texts = await Promise.all(
      [`${this.file(deploymentId)}.1`, this.file(deploymentId)].map((f) => fsp.readFile(f, 'utf8').catch(() => '')),
    );
    return parseLines(texts.join('\n')).slice(-tail);
  }

  follow(deploymentId: string, onEntry: (e: LogEntry) => void): () => void {
    const st = this.state(deploymentId);
    st.followers.add(onEntry);
    return () => {
      st.followers.delete(onEntry);
    };
  }

  async remove(deploymentId: string): Promise<void> {
    const st = this.states.get(deploymentId);
    if (st) {
      if (st.timer) clearTimeout(st.timer);
      st.pending = [];
      this.states.delete(deploymentId);
      await st.chain;
    } else if (!ID.test(deploymentId)) {
      throw new Error(`FileLogStore: invalid deployment id ${JSON.stringify(deploymentId)}`);
    }
    await fsp.rm(this.file(deploymentId), { force: true });
    await fsp.rm(`${this.file(deploymentId)}.1`, { force: true });
  }

  /** Waits until everything appended so far is on disk. */
  async flush(): Promise<void> {
    await Promise.all([...this.states.values()].map((st) => this.flushState(st)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}
