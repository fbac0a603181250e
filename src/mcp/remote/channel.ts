/**
 * A remote MCP server seen as a stdio process: the bridge writes newline-delimited JSON-RPC to
 * `stdin` and reads it from `stdout`, exactly as with a child process, while a subclass speaks the
 * remote's own transport (legacy HTTP+SSE, 2025 Streamable HTTP, or stateless 2026-07-28 HTTP).
 * This lets the bridge (sessions, legacy SSE front, stateless front, multi round-trip) serve every
 * client revision in front of any remote without knowing it is remote.
 */
import { Readable, Writable } from 'node:stream';
import type { ExitInfo, StdioProcess } from '../../core/process.js';
import type { JsonRpcMessage } from '../wire/jsonrpc.js';
import { isMessage } from '../wire/jsonrpc.js';
import { errorText } from './wire.js';

/** What a channel reports about itself (a deployment log line). */
export type ChannelLog = (line: string) => void;

export abstract class RemoteChannel implements StdioProcess {
  /** Channels are not processes; 0 marks them in bridge log lines. */
  readonly pid = 0;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly exited: Promise<ExitInfo>;
  protected closed = false;
  private resolveExit!: (exit: ExitInfo) => void;
  private partial = '';

  constructor(
    /** The bridge's instance key (e.g. `s-3`), for log lines. */
    readonly key: string,
    protected readonly log: ChannelLog = () => {},
  ) {
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    this.stdout = new Readable({ read() {} });
    this.stdin = new Writable({
      decodeStrings: false,
      write: (chunk: string | Buffer, _enc, done) => {
        this.onText(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
        done();
      },
    });
  }

  /** One message the bridge wrote. */
  protected abstract receive(msg: JsonRpcMessage): void;
  /** Release everything the channel holds (abort requests, end the remote session). */
  protected abstract teardown(): void;

  /** Hand one message to the bridge. */
  protected emit(msg: object): void {
    if (this.closed) return;
    this.stdout.push(`${JSON.stringify(msg)}\n`);
  }

  /** The channel is over: code 0 when Berth stopped it, 1 when the remote ended it (`reason` is logged). */
  protected finish(code: number, reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    if (reason) this.log(`remote channel ${this.key}: ${reason}`);
    try {
      this.teardown();
    } catch (err) {
      this.log(`remote channel ${this.key}: teardown failed: ${errorText(err)}`);
    }
    this.stdout.push(null);
    this.stdin.destroy();
    // Let the bridge read what was emitted before it learns of the exit.
    setImmediate(() => this.resolveExit({ code, signal: null }));
  }

  async stop(): Promise<ExitInfo> {
    this.finish(0);
    return this.exited;
  }

  private onText(text: string): void {
    if (this.closed) return;
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
        if (!isMessage(m)) continue;
        try {
          this.receive(m);
        } catch (err) {
          this.log(`remote channel ${this.key}: could not handle a message: ${errorText(err)}`);
        }
      }
    }
  }
}

/** Keeps messages in the order the bridge wrote them: `run` waits for every earlier `run` to settle. */
export class Sequencer {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every earlier `run` has settled; later `run`s and `after`s wait for it. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }

  /** Runs `fn` after every earlier `run` has settled, without holding up later calls. */
  after<T>(fn: () => Promise<T>): Promise<T> {
    return this.tail.then(fn, fn);
  }
}
