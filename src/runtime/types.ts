import type { Readable, Writable } from 'node:stream';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
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

export interface LaunchRequest {
  /** Owning deployment; used for pid files and log lines. */
  deploymentId: string;
  /** Distinguishes several processes of one deployment (isolated mode), e.g. `main` or `s-3`. */
  instanceKey: string;
  command: string;
  args: string[];
  /** Complete environment for the child (the runtime adds nothing secret on its own). */
  env: Record<string, string>;
  /** Working directory; the runtime creates a per-deployment one when absent. */
  cwd?: string;
}

/** Starts stdio server processes. The process runtime is the first driver; containers come later. */
export interface StdioLauncher {
  launch(req: LaunchRequest): Promise<StdioProcess>;
}

/** Control-plane view of a runtime driver. */
export interface Runtime extends StdioLauncher {
  readonly name: string;
  /**
   * Called once at start-up before anything is launched: finds processes a previous Berth left
   * behind (pid files) and ends them, so the reconciler can start exactly one copy of each.
   * Returns what it ended.
   */
  reapOrphans(): Promise<{ deploymentId: string; instanceKey: string; pid: number }[]>;
  /** Stops every process this runtime started (Berth shutdown). */
  stopAll(graceMs?: number): Promise<void>;
}
