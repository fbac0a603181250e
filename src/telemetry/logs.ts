export type LogStream = 'stderr' | 'stdout' | 'system';

export interface LogEntry {
  /** Monotonic per deployment, starting at 1; lets a follower resume. */
  seq: number;
  ts: string;
  stream: LogStream;
  line: string;
}

/** Per-deployment logs: server stderr, stray stdout, and Berth's own lifecycle lines. */
export interface LogStore {
  append(deploymentId: string, stream: LogStream, line: string): void;
  /** The last `tail` entries (default 200), oldest first. */
  read(deploymentId: string, opts?: { tail?: number }): Promise<LogEntry[]>;
  /** Calls `onEntry` for each new entry until the returned function is called. */
  follow(deploymentId: string, onEntry: (e: LogEntry) => void): () => void;
  remove(deploymentId: string): Promise<void>;
  close(): Promise<void>;
}
