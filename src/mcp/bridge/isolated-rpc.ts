import type { Exchange } from '../front/exchange.js';
import type { Session } from '../front/transport.js';
import type { MrtrState } from '../front/mrtr.js';
import type { ListenStream } from '../front/stateless.js';
import type { ExitInfo } from '../../core/process.js';
import type { IsolatedBridgeOptions } from '../types.js';
import type { JsonRpcId, JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';
import { INVALID_REQUEST, REQUEST_TIMEOUT, RESPONSE_TOO_LARGE, UPSTREAM_EXITED, errorResponse, idKey, progressTokenOf, serialize } from '../wire/jsonrpc.js';
import { describeExit } from './upstream.js';
import type { OversizeLine, Upstream } from './upstream.js';

export type S = Session<IsoSession>;

export interface IsoSession {
  proc: IsoProc | null;
  /** Multi round-trip state of a stateless (2026-07-28) call. */
  mrtr: MrtrState | null;
  /** The `subscriptions/listen` stream this process serves (revision 2026-07-28), if that is its job. */
  listen: ListenStream | null;
}

export interface Pending {
  exchange: Exchange | null;
  /** The id to answer with when it differs from the upstream one (a resumed multi round-trip call). */
  replyId?: JsonRpcId;
  req: JsonRpcRequest;
  timer: NodeJS.Timeout;
  /** The progress token the process knows the request by. */
  token: string | number | undefined;
  /** The token to give the client instead (a multi round-trip retry that sent its own). */
  replyToken?: string | number;
  internal: ((msg: JsonRpcResponse | Error) => void) | null;
}

/** One process: warm in the pool, bound to a session, or running a probe. */
export interface IsoProc {
  up: Upstream;
  role: 'warm' | 'session' | 'probe';
  session: S | null;
  /** Keyed by idKey(client id); ids pass through unchanged in isolated mode. */
  pending: Map<string | number, Pending>;
  /** The server's answer to the bridge's own initialize, sent while the process waited in the pool. */
  primed: Record<string, unknown> | null;
  /** What the bound client declared; server requests for other client features are refused by the bridge. */
  clientCaps: Record<string, unknown> | null;
  /** Set while the bound client's handshake is in flight (it holds the pool refill back). */
  handshake: NodeJS.Timeout | null;
  /** The revision (spawn function) it was started with; swap() moves the bridge to the next one. */
  gen: number;
}

/** Requests to isolated mode's processes and their answers, timeouts and failures. */
export abstract class IsolatedRpc {
  protected seq = 0;

  constructor(protected readonly opts: IsolatedBridgeOptions) {}

  // ---- messages ----

  /** How long a fresh process may take to answer initialize: it includes the server's own start-up. */
  protected handshakeLimitMs(): number {
    return this.opts.timing?.handshakeTimeoutMs ?? Math.max(10_000, this.opts.limits.requestTimeoutMs);
  }

  /** Sends `req` to `proc`; no answer within `timeoutMs` (default the request timeout) answers REQUEST_TIMEOUT. */
  protected send(proc: IsoProc, req: JsonRpcRequest, exchange: Exchange | null, internal: Pending['internal'], timeoutMs = this.opts.limits.requestTimeoutMs): void {
    const key = idKey(req.id);
    if (proc.pending.has(key)) {
      const err = errorResponse(req.id, INVALID_REQUEST, 'A request with this id is already in flight');
      if (internal) internal(new Error(err.error.message));
      else exchange?.respond(err);
      return;
    }
    const json = serialize(req);
    if (json === null) {
      const err = errorResponse(req.id, INVALID_REQUEST, 'Invalid Request: the message is nested too deeply to forward');
      if (internal) internal(new Error(err.error.message));
      else exchange?.respond(err);
      return;
    }
    if (proc.up.backlogged) {
      const busy = proc.up.busyError(req.id);
      if (internal) internal(new Error(busy.error.message));
      else exchange?.respond(busy);
      return;
    }
    const timer = setTimeout(() => this.timedOut(proc, key, req, timeoutMs), timeoutMs);
    proc.pending.set(key, { exchange, req, timer, token: progressTokenOf(req), internal });
    if (!proc.up.send(json)) this.failPending(proc, proc.up.exitInfo ?? { code: null, signal: null });
  }

  /**
   * Berth's own request to `proc`, answered within `timeoutMs` (which may be longer than the request timeout: a
   * handshake includes the server's start-up).
   */
  protected internal(proc: IsoProc, method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const req: JsonRpcRequest = { jsonrpc: '2.0', id: `berth-${++this.seq}`, method, params };
      const answer = (msg: JsonRpcResponse | Error): void => {
        if (msg instanceof Error) reject(msg);
        else if ('error' in msg) reject(new Error(`${method} failed: ${msg.error.code} ${msg.error.message}`));
        else resolve((msg.result ?? {}) as Record<string, unknown>);
      };
      this.send(proc, req, null, answer, timeoutMs);
    });
  }

  protected timedOut(proc: IsoProc, key: string | number, req: JsonRpcRequest, ms = this.opts.limits.requestTimeoutMs): void {
    const p = proc.pending.get(key);
    if (!p) return;
    proc.pending.delete(key);
    proc.up.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: req.id, reason: 'request timed out' } });
    this.reply(p, errorResponse(p.replyId ?? req.id, REQUEST_TIMEOUT, `Request timed out: the MCP server gave no answer within ${ms} ms`));
  }

  /**
   * A stdout line over the limit whose request could not be told from its first or last bytes: with exactly
   * one request in flight, it must be that one's answer.
   */
  protected oversize(proc: IsoProc, line: OversizeLine): void {
    if (line.kind === 'request' || line.kind === 'notification' || proc.pending.size !== 1) return;
    const [key, p] = [...proc.pending][0]!;
    proc.pending.delete(key);
    clearTimeout(p.timer);
    const id = p.replyId ?? p.req.id;
    this.reply(p, errorResponse(id, RESPONSE_TOO_LARGE, line.message, line.data));
  }

  protected reply(p: Pending, msg: JsonRpcResponse): void {
    if (p.internal) p.internal(msg);
    else p.exchange?.respond(msg);
  }

  /** End every pending request of a process: with an exit error, or silently (exit null). */
  protected failPending(proc: IsoProc, exit: ExitInfo | null): void {
    const pending = [...proc.pending];
    proc.pending.clear();
    for (const [key, p] of pending) {
      clearTimeout(p.timer);
      if (!exit) {
        p.internal?.(new Error('session ended'));
        continue;
      }
      const id = p.replyId ?? (typeof key === 'number' ? key : key.slice(2));
      const data = { exitCode: exit.code, signal: exit.signal };
      this.reply(p, errorResponse(id, UPSTREAM_EXITED, `MCP server process exited (${describeExit(exit)}) before answering`, data));
    }
  }

  /** Answer every pending request of a process with `answer(id)` (internal ones fail). */
  protected endPending(proc: IsoProc, answer: (id: JsonRpcId) => JsonRpcResponse): void {
    const pending = [...proc.pending.values()];
    proc.pending.clear();
    for (const p of pending) {
      clearTimeout(p.timer);
      if (p.internal) p.internal(new Error('session ended'));
      else this.reply(p, answer(p.replyId ?? p.req.id));
    }
  }
}
