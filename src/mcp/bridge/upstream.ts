import type { ExitInfo, StdioProcess } from '../../core/process.js';
import type { JsonRpcFailure, JsonRpcId, JsonRpcMessage } from '../wire/jsonrpc.js';
import { RESPONSE_TOO_LARGE, UPSTREAM_BUSY, errorResponse, isMessage } from '../wire/jsonrpc.js';
import { LogThrottle, andMore } from '../throttle.js';
import type { OutboundPressure } from '../types.js';
import { DEFAULT_MAX_LINE_BYTES, readLines } from '../wire/lines.js';
import type { PeekKind } from '../wire/peek.js';
import { peekMessage } from '../wire/peek.js';

/** A stdout line over the limit that could not be tied to a request by its id. */
export interface OversizeLine {
  bytes: number;
  kind: PeekKind;
  /** For the RESPONSE_TOO_LARGE error a caller may send in its place. */
  message: string;
  /** `bytes` is absent when the error is sent before the line ended. */
  data: { bytes?: number; maxLineBytes: number };
}

export interface UpstreamOptions {
  maxLineBytes?: number;
  /** Bytes that may wait for the server to read its stdin (default 4 MiB); see `backlogged`. */
  maxStdinBytes?: number;
  /** While high, stdout is not read (the server blocks on its own writes). */
  pressure?: OutboundPressure;
  log?: (line: string) => void;
  onMessage(msg: JsonRpcMessage): void;
  onExit(exit: ExitInfo): void;
  /** An oversize line whose id could not be read (a response without a visible id, a batch, …). */
  onOversize?(line: OversizeLine): void;
}

const NOISE_PREVIEW = 200;
export const DEFAULT_MAX_STDIN_BYTES = 4 * 1024 * 1024;
/** A server that does not read its stdin is logged at most once per this long. */
const BACKLOG_LOG_MS = 10_000;

/**
 * One stdio MCP server process seen as a stream of JSON-RPC messages: newline-delimited JSON in
 * both directions. Stray stdout lines that are not JSON-RPC go to `log` and are otherwise ignored.
 *
 * A line over `maxLineBytes` is dropped without being kept; its id is read from its first bytes (as
 * soon as it goes over) or its last bytes (when it ends). A response becomes a RESPONSE_TOO_LARGE error
 * response with that id, passed to `onMessage` like any answer; a server request gets that error back;
 * a line whose id cannot be read goes to `onOversize`.
 */
export class Upstream {
  readonly pid: number;
  exitInfo: ExitInfo | null = null;
  /** Set when Berth asked the process to stop (the exit is expected). */
  stopping = false;
  private readonly detach: () => void;
  private readonly maxStdin: number;
  private readonly backlogLog = new LogThrottle(BACKLOG_LOG_MS);
  private unsubscribe: (() => void) | null = null;

  constructor(
    readonly proc: StdioProcess,
    readonly instanceKey: string,
    private readonly opts: UpstreamOptions,
  ) {
    this.pid = proc.pid;
    const log = opts.log ?? ((): void => {});
    this.maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.detach = readLines(proc.stdout, {
      maxLineBytes: opts.maxLineBytes,
      onLine: (line) => this.onLine(line),
      onOversizeStart: (head) => this.oversizeStart(head),
      onOversize: (bytes, head, tail) => this.oversizeEnd(bytes, head, tail),
    });
    proc.stdin.on('error', (err: Error) => log(`[${instanceKey}] stdin error: ${err.message}`));
    proc.stdout.on('error', (err: Error) => log(`[${instanceKey}] stdout error: ${err.message}`));
    this.maxStdin = opts.maxStdinBytes ?? DEFAULT_MAX_STDIN_BYTES;
    const pressure = opts.pressure;
    if (pressure) {
      // Berth as a whole is behind on its clients: stop reading, so the server blocks instead of Berth buffering.
      const apply = (high: boolean): void => {
        if (!this.alive) return;
        if (high) proc.stdout.pause();
        else proc.stdout.resume();
      };
      this.unsubscribe = pressure.subscribe(apply);
      if (pressure.high) apply(true);
    }
    void proc.exited.then((exit) => {
      this.exitInfo = exit;
      this.unsubscribe?.();
      this.detach();
      opts.onExit(exit);
    });
  }

  /**
   * The server is not reading its stdin: more than `maxStdinBytes` wait for it. `send` refuses messages
   * meanwhile; a bridge answers requests with `busyError` instead of queueing them.
   */
  get backlogged(): boolean {
    return this.proc.stdin.writableLength > this.maxStdin;
  }

  /** The UPSTREAM_BUSY answer to a request refused because the server is backlogged. */
  busyError(id: JsonRpcId): JsonRpcFailure {
    this.logBacklog();
    const waiting = this.proc.stdin.writableLength;
    const message = `MCP server busy: it is not reading its input (${waiting} bytes are waiting for it, over the limit of ${this.maxStdin}, BERTH_STDIN_BUFFER_BYTES); retry shortly`;
    return errorResponse(id, UPSTREAM_BUSY, message, { code: 'UPSTREAM_BUSY', waitingBytes: waiting, maxStdinBytes: this.maxStdin });
  }

  get alive(): boolean {
    return this.exitInfo === null;
  }

  /** Write one message (an object, or already-serialised JSON without a newline); false when the process is gone or backlogged. */
  send(msg: object | string): boolean {
    if (!this.alive || this.proc.stdin.destroyed || this.proc.stdin.writableEnded) return false;
    if (this.backlogged) {
      this.logBacklog();
      return false;
    }
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

  private logBacklog(): void {
    const quiet = this.backlogLog.hit();
    if (quiet !== null) this.opts.log?.(`[${this.instanceKey}] the server is not reading its stdin: ${this.proc.stdin.writableLength} bytes wait for it (limit ${this.maxStdin}, BERTH_STDIN_BUFFER_BYTES); messages to it are refused until it reads${andMore(quiet)}`);
  }

  private readonly maxLineBytes: number;
  /** The id of the oversize line being dropped, when its first bytes named it (already answered). */
  private oversizeId: JsonRpcId | null = null;

  private oversizeStart(head: Buffer): void {
    const peek = peekMessage(head, null);
    if (peek.kind !== 'response' || peek.id === undefined) return;
    this.oversizeId = peek.id;
    this.failResponse(peek.id, null);
  }

  private oversizeEnd(bytes: number, head: Buffer, tail: Buffer): void {
    const handled = this.oversizeId;
    this.oversizeId = null;
    const peek = peekMessage(head, tail);
    const what = peek.id === undefined ? `a ${peek.kind === 'unknown' ? 'message' : peek.kind} without a readable id` : `a ${peek.kind} with id ${JSON.stringify(peek.id)}`;
    this.opts.log?.(`[${this.instanceKey}] dropped a stdout line of ${bytes} bytes (over the line limit of ${this.maxLineBytes} bytes): ${what}`);
    if (handled !== null) return;
    if (peek.id !== undefined && (peek.kind === 'response' || peek.kind === 'unknown')) {
      this.failResponse(peek.id, bytes);
      return;
    }
    if (peek.id !== undefined && peek.kind === 'request') {
      // The server waits for an answer to a request the client will never see.
      this.send(errorResponse(peek.id, RESPONSE_TOO_LARGE, `Message too large: the request (${bytes} bytes) is longer than the bridge's ${this.maxLineBytes}-byte line limit`));
      return;
    }
    const { message, data } = this.tooLarge(bytes);
    this.opts.onOversize?.({ bytes, kind: peek.kind, message, data });
  }

  /** The error in place of a dropped answer; `bytes` is null while the line is still arriving. */
  private tooLarge(bytes: number | null): { message: string; data: OversizeLine['data'] } {
    const size = bytes === null ? `more than ${this.maxLineBytes} bytes` : `${bytes} bytes`;
    return {
      message: `Response too large: the MCP server's answer (${size}) is longer than the ${this.maxLineBytes}-byte line limit and was dropped`,
      data: bytes === null ? { maxLineBytes: this.maxLineBytes } : { bytes, maxLineBytes: this.maxLineBytes },
    };
  }

  /** Hand the caller an error response in place of the dropped one. */
  private failResponse(id: JsonRpcId, bytes: number | null): void {
    const { message, data } = this.tooLarge(bytes);
    this.dispatch(errorResponse(id, RESPONSE_TOO_LARGE, message, data), null);
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

  private dispatch(v: unknown, line: Buffer | null): void {
    if (isMessage(v)) {
      try {
        this.opts.onMessage(v);
      } catch (err) {
        // A message Berth cannot handle (e.g. nested too deeply to re-serialise) must not take Berth down.
        this.opts.log?.(`[${this.instanceKey}] dropped a message that could not be handled: ${err instanceof Error ? err.message : String(err)}`);
      }
      return;
    }
    this.opts.log?.(`[${this.instanceKey}] not JSON-RPC: ${line?.subarray(0, NOISE_PREVIEW).toString('utf8')}`);
  }
}

export function describeExit(exit: ExitInfo): string {
  const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code ?? 'unknown'}`;
  return exit.reason ? `${exit.reason}, ${how}` : how;
}
