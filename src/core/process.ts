import type { Readable, Writable } from 'node:stream';

// The seam between a runtime (which starts server processes) and the MCP bridge (which speaks to
// them). Both are drivers and may not import each other, so the shape they agree on lives here.

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it ended when the runtime knows more than the code says, e.g. `out of memory: killed at the 512 MiB limit`. */
  reason?: string;
}

/** A running stdio server process, as the MCP bridge sees it. */
export interface StdioProcess {
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** Resolves once when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<ExitInfo>;
}
