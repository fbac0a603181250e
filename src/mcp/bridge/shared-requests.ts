import type { ExitInfo } from '../../core/process.js';
import type { Exchange } from '../front/exchange.js';
import type { JsonRpcFailure, JsonRpcId, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';
import { INVALID_REQUEST, REQUEST_TIMEOUT, UPSTREAM_BUSY, UPSTREAM_EXITED, UPSTREAM_UNAVAILABLE, errorResponse, progressTokenOf, serialize, withProgressToken } from '../wire/jsonrpc.js';
import type { SharedSession } from './shared-subs.js';
import type { Supervisor } from './supervisor.js';
import type { Session } from '../front/transport.js';
import type { Upstream } from './upstream.js';
import { describeExit } from './upstream.js';

type S = Session<SharedSession>;

/** A request sent (or waiting to be sent) upstream under a bridge-assigned id. */
interface Pending {
  session: S | null;
  exchange: Exchange | null;
  clientId: JsonRpcId;
  clientToken: string | number | undefined;
  /** The serialised upstream request until it is written; null once sent. */
  json: string | null;
  timer: NodeJS.Timeout;
  internal: ((msg: JsonRpcResponse | Error) => void) | null;
  /** The process generation it goes to (the active one when it came, or a swap's new one). */
  sup: Supervisor;
  /** The process it was written to (for its cancellation, and to fail it if that process exits). */
  up: Upstream | null;
}

/** What the request table needs from its shared bridge. */
export interface RequestHost {
  /** The generation new requests go to. */
  active(): Supervisor;
  closing(): boolean;
  /** Start a generation's process if none runs (a request waits for it). */
  run(sup: Supervisor): void;
  /** A request was counted in (+1) or out (−1) of a generation. */
  count(sup: Supervisor, delta: number): void;
  /** A request ended; `client`: a client's (not the bridge's own); `empty`: none is left. */
  ended(client: boolean, empty: boolean): void;
  requestTimeoutMs: number;
  /** Bytes of requests that may wait for a process to start. */
  maxQueued: number;
}

/**
 * Shared mode's requests in flight: client ids become bridge-wide integers upstream (the progress token
 * too), so an answer or a progress notification from any process finds its request with one lookup.
 */
export class RequestTable {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Bytes of requests not yet written to a process (it is starting, or restarting). */
  private queued = 0;

  constructor(private readonly host: RequestHost) {}

  get size(): number {
    return this.pending.size;
  }

  forward(session: S | null, exchange: Exchange | null, req: JsonRpcRequest, internal: Pending['internal'] = null, target?: Supervisor): void {
    const sup = target ?? this.host.active();
    const state = sup.state;
    if (state === 'gaveup' || state === 'closed' || this.host.closing()) {
      const err = errorResponse(req.id, UPSTREAM_UNAVAILABLE, 'MCP server unavailable: it is not running');
      if (internal) internal(new Error(err.error.message));
      else exchange?.respond(err);
      return;
    }
    const uid = this.nextId++;
    const clientToken = progressTokenOf(req);
    const params = clientToken === undefined ? req.params : withProgressToken(req.params ?? {}, uid);
    const out: JsonRpcRequest = params === undefined ? { jsonrpc: '2.0', id: uid, method: req.method } : { jsonrpc: '2.0', id: uid, method: req.method, params };
    const json = serialize(out);
    if (json === null) {
      const err = errorResponse(req.id, INVALID_REQUEST, 'Invalid Request: the message is nested too deeply to forward');
      if (internal) internal(new Error(err.error.message));
      else exchange?.respond(err);
      return;
    }
    const up = sup.ready ? sup.up : null;
    const busy = up?.backlogged ? up.busyError(req.id) : !up && this.queued > 0 && this.queued + json.length > this.host.maxQueued ? this.queueFull(req.id) : null;
    if (busy) {
      if (internal) internal(new Error(busy.error.message));
      else exchange?.respond(busy);
      return;
    }
    const timer = setTimeout(() => this.timedOut(uid), this.host.requestTimeoutMs);
    const p: Pending = { session, exchange, clientId: req.id, clientToken, json, timer, internal, sup, up: null };
    this.pending.set(uid, p);
    this.host.count(sup, 1);
    this.queued += json.length;
    if (sup.ready) this.write(uid, p);
    else this.host.run(sup);
  }

  /** The sessions whose requests `up` is working on (written to it, not yet answered), each with one of its exchanges. */
  callers(up: Upstream): Map<S, Exchange | null> {
    const out = new Map<S, Exchange | null>();
    for (const p of this.pending.values()) {
      if (p.up !== up || !p.session || p.internal) continue;
      if (!out.get(p.session)?.open) out.set(p.session, p.exchange?.open ? p.exchange : null);
    }
    return out;
  }

  /** The session whose request went upstream as `uid` (a progress token), if it is a client's. */
  sessionOf(uid: unknown): S | null {
    return typeof uid === 'number' ? (this.pending.get(uid)?.session ?? null) : null;
  }

  /** The process a session's request was written to (where its server's requests came from). */
  upOf(session: S): Upstream | null {
    for (const p of this.pending.values()) if (p.session === session && p.up) return p.up;
    return null;
  }

  /**
   * Multi round-trip (a stateless call's retry): the session's pending request now answers on `exchange` as
   * `replyId`, with the retry's progress token if it sent one; null: parked between rounds, with no timeout of its
   * own (the broker's applies).
   */
  rebind(session: S, exchange: Exchange | null, replyId: JsonRpcId, token?: string | number): void {
    for (const [uid, p] of this.pending) {
      if (p.session !== session || p.internal) continue;
      p.exchange = exchange;
      p.clientId = replyId;
      if (token !== undefined) p.clientToken = token;
      clearTimeout(p.timer);
      if (exchange) p.timer = setTimeout(() => this.timedOut(uid), this.host.requestTimeoutMs);
    }
  }

  /** A request of the bridge's own (probe, listings, subscriptions), to the active generation or `target`. */
  request(method: string, params: Record<string, unknown>, timeoutMs: number, target?: Supervisor): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const req: JsonRpcRequest = { jsonrpc: '2.0', id: 0, method, params };
      const done = (msg: JsonRpcResponse | Error): void => {
        clearTimeout(guard);
        if (msg instanceof Error) reject(msg);
        else if ('error' in msg) reject(new Error(`${method} failed: ${msg.error.code} ${msg.error.message}`));
        else resolve((msg.result ?? {}) as Record<string, unknown>);
      };
      // An own guard so probe's deadline holds even if shorter than requestTimeoutMs.
      const guard = setTimeout(() => done(new Error(`${method} timed out after ${timeoutMs} ms`)), timeoutMs);
      this.forward(null, null, req, done, target);
    });
  }

  /** The server answered: to the client (with its own id) or the bridge's own waiter. */
  answer(m: JsonRpcResponse): void {
    const p = typeof m.id === 'number' ? this.pending.get(m.id) : undefined;
    if (!p) return;
    this.remove(m.id as number, p);
    if (p.internal) p.internal(m);
    else {
      m.id = p.clientId;
      p.exchange?.respond(m);
    }
  }

  /** Progress belongs on its request's stream, with the client's own token (dropped once that stream is over). */
  progress(m: JsonRpcNotification): void {
    const token = m.params?.progressToken;
    const p = typeof token === 'number' ? this.pending.get(token) : undefined;
    if (!p || p.clientToken === undefined || !p.session) return;
    p.exchange?.notify(JSON.stringify({ ...m, params: { ...m.params, progressToken: p.clientToken } }));
  }

  /** A client's notifications/cancelled: forget the request, and tell the process it went to. */
  cancel(session: S, msg: JsonRpcNotification): void {
    const rid = msg.params?.requestId;
    for (const [uid, p] of this.pending) {
      if (p.session !== session || p.clientId !== rid) continue;
      this.remove(uid, p);
      if (p.json === null) p.up?.send({ ...msg, params: { ...msg.params, requestId: uid } });
      p.exchange?.abandon();
      return;
    }
  }

  sessionEnded(session: S): void {
    for (const [uid, p] of this.pending) {
      if (p.session !== session) continue;
      this.remove(uid, p);
      if (p.json === null) this.sendCancel(uid, p, 'session ended');
    }
  }

  /** A generation's process is ready: write what waited for it. */
  writeWaiting(sup: Supervisor): void {
    for (const [uid, p] of this.pending) if (p.sup === sup) this.write(uid, p);
  }

  /** After a swap: requests still waiting to be written go to the new process. */
  moveUnsent(old: Supervisor, cand: Supervisor): void {
    for (const [uid, p] of this.pending) {
      if (p.sup !== old || p.json === null) continue;
      this.host.count(old, -1);
      this.host.count(cand, 1);
      p.sup = cand;
      this.write(uid, p);
    }
  }

  /** A process exited: requests already written to it will never be answered. */
  failSent(up: Upstream, exit: ExitInfo): void {
    const why = describeExit(exit);
    const data = { exitCode: exit.code, signal: exit.signal };
    for (const [uid, p] of this.pending) {
      if (p.json !== null || p.up !== up) continue;
      this.remove(uid, p);
      this.reply(p, errorResponse(p.clientId, UPSTREAM_EXITED, `MCP server process exited (${why}) before answering`, data));
    }
  }

  /** Fail every pending request (of one generation, when `sup` is given). */
  failAll(code: number, message: string, sup?: Supervisor): void {
    for (const [uid, p] of this.pending) {
      if (sup && p.sup !== sup) continue;
      this.remove(uid, p);
      this.reply(p, errorResponse(p.clientId, code, message));
    }
  }

  /** Write a pending request to its process; a server that does not read its stdin gets no more (UPSTREAM_BUSY). */
  private write(uid: number, p: Pending): void {
    const up = p.sup.ready ? p.sup.up : null;
    if (p.json === null || !up) return;
    if (up.backlogged) {
      this.remove(uid, p);
      this.reply(p, up.busyError(p.clientId));
      return;
    }
    if (!up.send(p.json)) return;
    this.queued -= p.json.length;
    p.json = null;
    p.up = up;
  }

  /** Forget a pending request (its timer too); what it had not written yet no longer counts as queued. */
  private remove(uid: number, p: Pending): void {
    if (!this.pending.delete(uid)) return;
    clearTimeout(p.timer);
    if (p.json !== null) this.queued -= p.json.length;
    this.host.count(p.sup, -1);
    this.host.ended(!p.internal, this.pending.size === 0);
  }

  /** The answer to a request that does not fit the queue of requests waiting for the process to start. */
  private queueFull(id: JsonRpcId): JsonRpcFailure {
    const max = this.host.maxQueued;
    const message = `MCP server busy: it is not ready, and ${this.queued} bytes of requests already wait for it (limit ${max}, BERTH_STDIN_BUFFER_BYTES); retry shortly`;
    return errorResponse(id, UPSTREAM_BUSY, message, { code: 'UPSTREAM_BUSY', waitingBytes: this.queued, maxStdinBytes: max });
  }

  private sendCancel(uid: number, p: Pending, reason: string): void {
    p.up?.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: uid, reason } });
  }

  private timedOut(uid: number): void {
    const p = this.pending.get(uid);
    if (!p) return;
    this.remove(uid, p);
    if (p.json === null) this.sendCancel(uid, p, 'request timed out');
    const ms = this.host.requestTimeoutMs;
    this.reply(p, errorResponse(p.clientId, REQUEST_TIMEOUT, `Request timed out: the MCP server gave no answer within ${ms} ms`));
  }

  private reply(p: Pending, msg: JsonRpcResponse): void {
    if (p.internal) p.internal('error' in msg ? new Error(msg.error.message) : msg);
    else p.exchange?.respond(msg);
  }
}
