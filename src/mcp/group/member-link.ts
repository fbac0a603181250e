/**
 * One group session's MCP session with one member: a channel (a 2025 session through Berth's gateway, so the
 * member's credentials check, wake-up and limits apply as to any client) seen as requests and messages. The link
 * initializes with the group client's own capabilities, so the member may ask that client for sampling,
 * elicitation or roots; what the member sends outside an answer goes to `onMessage`.
 */
import type { StdioProcess } from '../../core/process.js';
import { LATEST_PROTOCOL_VERSION } from '../wire/http.js';
import { readLines } from '../wire/lines.js';
import { errorResponse, idKey, isMessage, isResponse, UPSTREAM_UNAVAILABLE, type JsonRpcMessage, type JsonRpcResponse } from '../wire/jsonrpc.js';

/** A member's answer: its result, or its JSON-RPC error as thrown. */
export class MemberError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** The longest line a member link keeps (an answer over it ends the link): the gateway's own bound on answers. */
const MAX_LINE = 64 * 1024 * 1024;

export interface MemberLinkOptions {
  proc: StdioProcess;
  /** The group client's initialize params (capabilities, clientInfo): the member sees the real client. */
  clientInit: Record<string, unknown>;
  /** Messages from the member other than answers to this link's requests. */
  onMessage(msg: JsonRpcMessage): void;
  onClose(reason: string): void;
}

export class MemberLink {
  private next = 1;
  private readonly pending = new Map<string | number, (r: JsonRpcResponse) => void>();
  private closed = false;
  /** Resolves once the member answered initialize; rejects when it refused or the link broke first. */
  readonly ready: Promise<Record<string, unknown>>;

  constructor(private readonly opts: MemberLinkOptions) {
    readLines(opts.proc.stdout, { maxLineBytes: MAX_LINE, onLine: (line) => this.onLine(line.toString('utf8')), onOversizeStart: () => this.close('the member sent a line over 64 MiB') });
    void opts.proc.exited.then(() => this.close('the member session ended'));
    const params = { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: opts.clientInit.capabilities ?? {}, clientInfo: opts.clientInit.clientInfo ?? { name: 'berth-group', version: '0' } };
    this.ready = this.request('initialize', params).then((result) => {
      this.notify('notifications/initialized');
      return result as Record<string, unknown>;
    });
    this.ready.catch(() => {});
  }

  get open(): boolean {
    return !this.closed;
  }

  /** A request of the link's own: resolves with the result, rejects with MemberError. */
  request(method: string, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // (a holder: a closed link answers at once, before the timer is made)
      const deadline: { timer?: NodeJS.Timeout } = {};
      const { id } = this.forward({ method, params }, (r) => {
        clearTimeout(deadline.timer);
        if ('result' in r) resolve(r.result);
        else reject(new MemberError(r.error.code, r.error.message, r.error.data));
      });
      if (timeoutMs === undefined) return;
      deadline.timer = setTimeout(() => {
        if (!this.pending.delete(idKey(id))) return;
        this.notify('notifications/cancelled', { requestId: id, reason: 'timeout' });
        reject(new MemberError(UPSTREAM_UNAVAILABLE, `no answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      deadline.timer.unref();
    });
  }

  /** Sends a request under a fresh id; `onAnswer` gets the member's response. Returns that id (for cancellation). */
  forward(req: { method: string; params?: Record<string, unknown> }, onAnswer: (r: JsonRpcResponse) => void): { id: number } {
    const id = this.next++;
    if (this.closed) {
      onAnswer(errorResponse(id, UPSTREAM_UNAVAILABLE, 'the member session is closed'));
      return { id };
    }
    this.pending.set(id, onAnswer);
    this.write({ jsonrpc: '2.0', id, method: req.method, ...(req.params === undefined ? {} : { params: req.params }) });
    return { id };
  }

  notify(method: string, params?: Record<string, unknown>): void {
    this.write({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) });
  }

  /** An answer to a request the member made. */
  respond(msg: JsonRpcResponse): void {
    this.write(msg);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const [id, answer] of this.pending) answer(errorResponse(id, UPSTREAM_UNAVAILABLE, `the member is unavailable: ${reason}`));
    this.pending.clear();
    void this.opts.proc.stop().catch(() => {});
    this.opts.onClose(reason);
  }

  private write(msg: object): void {
    if (this.closed || this.opts.proc.stdin.destroyed) return;
    this.opts.proc.stdin.write(`${JSON.stringify(msg)}\n`);
  }

  private onLine(line: string): void {
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (!isMessage(msg)) return;
    if (isResponse(msg) && msg.id !== null) {
      const answer = this.pending.get(idKey(msg.id));
      if (answer) {
        this.pending.delete(idKey(msg.id));
        answer(msg);
        return;
      }
    }
    this.opts.onMessage(msg);
  }
}
