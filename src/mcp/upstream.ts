import type { ExitInfo, StdioProcess } from '../runtime/types.js';
import type { JsonRpcMessage } from './jsonrpc.js';
import { isMessage } from './jsonrpc.js';
import { readLines } from './lines.js';

export interface UpstreamOptions {
  maxLineBytes?: number;
  log?: (line: string) => void;
  onMessage(msg: JsonRpcMessage): void;
  onExit(exit: ExitInfo): void;
}

const NOISE_PREVIEW = 200;

/**
 * One stdio MCP server process seen as a stream of JSON-RPC messages: newline-delimited JSON in
 * both directions. Stray stdout lines that are not JSON-RPC go to `log` and are otherwise ignored.
 */
export class Upstream {
  readonly pid: number;
  exitInfo: ExitInfo | null = null;
  /** Set when Berth asked the process to stop (the exit is expected). */
  stopping = false;
  private readonly detach: () => void;

  constructor(
    readonly proc: StdioProcess,
    readonly instanceKey: string,
    private readonly opts: UpstreamOptions,
  ) {
    this.pid = proc.pid;
    const log = opts.log ?? ((): void => {});
    this.detach = readLines(proc.stdout, {
      maxLineBytes: opts.maxLineBytes,
      onLine: (line) => this.onLine(line),
      onOversize: (bytes) => log(`[${instanceKey}] dropped a stdout line of ${bytes} bytes (over the line limit)`),
    });
    proc.stdin.on('error', (err: Error) => log(`[${instanceKey}] stdin error: ${err.message}`));
    proc.stdout.on('error', (err: Error) => log(`[${instanceKey}] stdout error: ${err.message}`));
    void proc.exited.then((exit) => {
      this.exitInfo = exit;
      this.detach();
      opts.onExit(exit);
    });
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  /** Write one message (an object, or already-serialised JSON without a newline). */
  send(msg: object | string): boolean {
    if (!this.alive || this.proc.stdin.destroyed || this.proc.stdin.writableEnded) return false;
    const text = typeof msg === 'string' ? msg : JSON.stringify(msg);
    const stdin = this.proc.stdin;
    // Messages written in the same turn leave in one write to the pipe (under load, many sessions' requests).
    if (!this.corked) {
      this.corked = true;
      stdin.cork();
      process.nextTick(this.uncork);
    }
    stdin.write(text + '\n');
    return true;
  }

  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.proc.stdin.uncork();
  };

  async stop(graceMs?: number): Promise<ExitInfo> {
    this.stopping = true;
    return this.proc.stop(graceMs);
  }

  private onLine(line: Buffer): void {
    const log = this.opts.log;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line.toString('utf8'));
    } catch {
      log?.(`[${this.instanceKey}] stdout: ${line.subarray(0, NOISE_PREVIEW).toString('utf8')}`);
      return;
    }
    if (Array.isArray(parsed)) {
      for (const m of parsed) this.dispatch(m, line);
      return;
    }
    this.dispatch(parsed, line);
  }

  private dispatch(v: unknown, line: Buffer): void {
    if (isMessage(v)) {
      try {
        this.opts.onMessage(v);
      } catch (err) {
        // A message Berth cannot handle (e.g. nested too deeply to re-serialise) must not take Berth down.
        this.opts.log?.(`[${this.instanceKey}] dropped a message that could not be handled: ${err instanceof Error ? err.message : String(err)}`);
      }
      return;
    }
    this.opts.log?.(`[${this.instanceKey}] not JSON-RPC: ${line.subarray(0, NOISE_PREVIEW).toString('utf8')}`);
  }
}

export function describeExit(exit: ExitInfo): string {
  if (exit.signal) return `signal ${exit.signal}`;
  return `exit code ${exit.code ?? 'unknown'}`;
}
