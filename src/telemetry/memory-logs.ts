import type { LogEntry, LogStore, LogStream } from './logs.js';

interface Bucket {
  seq: number;
  entries: LogEntry[];
  followers: Set<(e: LogEntry) => void>;
}

/** In-memory LogStore for tests of other modules: keeps the last `capacity` entries per deployment. */
export class MemoryLogStore implements LogStore {
  private readonly buckets = new Map<string, Bucket>();
  private readonly capacity: number;

  constructor(opts: { capacity?: number } = {}) {
    const capacity = opts.capacity ?? 10_000;
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`MemoryLogStore: capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
  }

  private bucket(id: string): Bucket {
    let b = this.buckets.get(id);
    if (!b) {
      b = { seq: 0, entries: [], followers: new Set() };
      this.buckets.set(id, b);
    }
    return b;
  }

  append(deploymentId: string, stream: LogStream, line: string): void {
    const b = this.bucket(deploymentId);
    const entry: LogEntry = { seq: ++b.seq, ts: new Date().toISOString(), stream, line };
    b.entries.push(entry);
    if (b.entries.length > this.capacity) b.entries.splice(0, b.entries.length - this.capacity);
    for (const f of b.followers) {
      try {
        f(entry);
      } catch {
        /* a broken follower must not break logging */
      }
    }
  }

  async read(deploymentId: string, opts: { tail?: number } = {}): Promise<LogEntry[]> {
    const tail = opts.tail ?? 200;
    const entries = this.buckets.get(deploymentId)?.entries ?? [];
    return tail <= 0 ? [] : entries.slice(-tail);
  }

  follow(deploymentId: string, onEntry: (e: LogEntry) => void): () => void {
    const b = this.bucket(deploymentId);
    b.followers.add(onEntry);
    return () => {
      b.followers.delete(onEntry);
    };
  }

  async remove(deploymentId: string): Promise<void> {
    this.buckets.delete(deploymentId);
  }

  async close(): Promise<void> {}
}
