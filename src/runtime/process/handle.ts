import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { ExitInfo, StdioProcess } from '../types.js';
import { groupMembers, safeKill, signalGroup } from './proc.js';

/** Command names that belong to the sandbox wrapper, not to the server (see signalGroup). */
const WRAPPERS = ['bwrap'];

/**
 * One launched child. It leads its own process group (spawned detached), so signals reach
 * whatever the server started too (npx → node, shell scripts → their children).
 */
export class ProcessHandle implements StdioProcess {
  readonly pid: number;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly exited: Promise<ExitInfo>;
  private stopping: Promise<ExitInfo> | null = null;
  private done = false;

  constructor(
    child: ChildProcess,
    private readonly sandboxed: boolean,
    private readonly defaultGraceMs: number,
    /** Cleans up after the exit; may return why the process ended (e.g. out of memory). */
    onExit: (info: ExitInfo) => Promise<string | undefined>,
  ) {
    if (child.pid === undefined || !child.stdin || !child.stdout) throw new Error('child was not spawned with stdio pipes');
    this.pid = child.pid;
    this.stdin = child.stdin;
    this.stdout = child.stdout;
    // Writes after the server died must not crash Berth; the bridge learns about it from `exited`.
    this.stdin.on('error', () => {});
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        this.done = true;
        const info: ExitInfo = { code, signal };
        // Anything the server left in its group (a grandchild holding our pipes) goes with it.
        safeKill(-this.pid, 'SIGKILL');
        onExit(info).then(
          (reason) => resolve(reason === undefined ? info : { ...info, reason }),
          () => resolve(info),
        );
      });
    });
  }

  stop(graceMs: number = this.defaultGraceMs): Promise<ExitInfo> {
    if (this.done) return this.exited;
    if (!this.stopping) this.stopping = this.terminate(graceMs);
    return this.stopping;
  }

  private async terminate(graceMs: number): Promise<ExitInfo> {
    const deadline = Date.now() + graceMs;
    const killTimer = setTimeout(() => safeKill(-this.pid, 'SIGKILL'), graceMs);
    try {
      if (!this.sandboxed) {
        await signalGroup(this.pid, 'SIGTERM');
      } else {
        // Signal the server but not bwrap; members that appear later (the command may still be
        // exec'ing right after launch) are signalled on the next round, until the grace runs out.
        const signalled = new Set<number>();
        while (!this.done && Date.now() < deadline) {
          for (const m of await groupMembers(this.pid)) {
            if (WRAPPERS.includes(m.comm) || signalled.has(m.pid)) continue;
            signalled.add(m.pid);
            safeKill(m.pid, 'SIGTERM');
          }
          await Promise.race([this.exited, new Promise((r) => setTimeout(r, 100))]);
        }
      }
      return await this.exited;
    } finally {
      clearTimeout(killTimer);
    }
  }
}
