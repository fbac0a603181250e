/**
 * Multi round-trip requests (revision 2026-07-28) in front of an older stdio server: a server→client
 * request (sampling, elicitation, roots) sent while a stateless call runs becomes an
 * `input_required` result; the client's retry (same method, `inputResponses` + `requestState`)
 * feeds the answers back to the waiting process. Between the two HTTP requests the process and
 * its pending request stay alive, parked under the opaque `requestState` handle, with a timeout.
 */
import { randomBytes } from 'node:crypto';
import type { Exchange } from './exchange.js';
import type { JsonRpcId, JsonRpcNotification, JsonRpcRequest } from '../wire/jsonrpc.js';
import { INVALID_PARAMS, errorResponse, progressTokenOf, resultResponse } from '../wire/jsonrpc.js';
import type { StatelessCall } from './stateless.js';

export interface MrtrState {
  /** Server requests not yet answered, keyed by the inputRequests key we gave them. */
  asked: Map<string, JsonRpcRequest>;
  /** Keys already sent to the client in an input_required result. */
  offered: Set<string>;
  handle: string | null;
  timer: NodeJS.Timeout | null;
  /** The open exchange of the current round; null while parked. */
  exchange: Exchange | null;
  replyId: JsonRpcId;
  method: string;
  /**
   * Notifications of the call (progress, logging) that came while it was parked: no HTTP request carries the
   * call then. They go out on the retry's stream, in order (bounded by HELD_MESSAGES / HELD_BYTES).
   */
  held: { m: JsonRpcNotification; bytes: number }[];
  heldBytes: number;
}

/** Most notifications kept for a parked call, and their total size; past either the oldest go (logged). */
export const HELD_MESSAGES = 64;
export const HELD_BYTES = 1024 * 1024;

export interface MrtrSession {
  ended: boolean;
  data: { mrtr: MrtrState | null };
}

/** What the broker needs from the isolated bridge. */
export interface MrtrHost<S extends MrtrSession> {
  /**
   * Point the session's pending upstream request at a new exchange and reply id (and the retry's own progress
   * token, if it sent one); re-arm (or, with null, stop) its timeout.
   */
  rebind(session: S, exchange: Exchange | null, replyId: JsonRpcId, progressToken?: string | number): void;
  /** Deliver notifications held while the call was parked, now that `rebind` gave it an exchange again. */
  deliver(session: S, held: JsonRpcNotification[]): void;
  /** Write one message to the session's process. */
  send(session: S, msg: object): void;
  /** Give up on a parked session (timeout): stop its process. */
  expire(session: S): void;
  log?(line: string): void;
}

export class InputRequests<S extends MrtrSession> {
  private readonly parked = new Map<string, S>();

  constructor(
    private readonly host: MrtrHost<S>,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.parked.size;
  }

  /** A stateless call starts on `session`. */
  begin(session: S, call: StatelessCall): void {
    session.data.mrtr = { asked: new Map(), offered: new Set(), handle: null, timer: null, exchange: call.exchange, replyId: call.raw.id, method: call.raw.method, held: [], heldBytes: 0 };
  }

  /**
   * A notification of the call came while no request carries it (parked between rounds): keep it for the retry.
   * False when the session is not parked (the caller drops it as before).
   */
  hold(session: S, m: JsonRpcNotification, bytes: number): boolean {
    const st = session.data.mrtr;
    if (!st || !this.isParked(session)) return false;
    st.held.push({ m, bytes });
    st.heldBytes += bytes;
    let dropped = 0;
    while (st.held.length > 1 && (st.held.length > HELD_MESSAGES || st.heldBytes > HELD_BYTES)) {
      st.heldBytes -= st.held.shift()!.bytes;
      dropped++;
    }
    if (dropped > 0) this.host.log?.(`bridge: a ${st.method} waiting for its retry sent more than ${HELD_MESSAGES} notifications or ${HELD_BYTES} bytes; dropped the ${dropped} oldest`);
    return true;
  }

  isParked(session: S): boolean {
    const st = session.data.mrtr;
    return st !== null && st.handle !== null && this.parked.get(st.handle) === session;
  }

  /** The process sent a server→client request during the call. */
  serverRequest(session: S, m: JsonRpcRequest): void {
    const st = session.data.mrtr;
    if (!st) return;
    st.asked.set(String(m.id), m);
    if (st.exchange?.open) this.ask(session, st);
  }

  /** A retry carrying `requestState`: answer the parked server requests and resume. */
  resume(call: StatelessCall): void {
    const params = call.raw.params ?? {};
    const handle = params.requestState as string;
    const session = this.parked.get(handle);
    const st = session?.data.mrtr;
    if (!session || !st || session.ended || st.method !== call.raw.method) {
      call.exchange.respond(errorResponse(call.raw.id, INVALID_PARAMS, 'Invalid params: requestState is unknown, expired or belongs to another method'));
      return;
    }
    this.parked.delete(handle);
    if (st.timer) clearTimeout(st.timer);
    st.timer = null;
    const responses = typeof params.inputResponses === 'object' && params.inputResponses !== null ? (params.inputResponses as Record<string, unknown>) : {};
    for (const [key, value] of Object.entries(responses)) {
      const asked = st.asked.get(key);
      if (!asked) continue;
      st.asked.delete(key);
      st.offered.delete(key);
      this.host.send(session, resultResponse(asked.id, value));
    }
    st.exchange = call.exchange;
    st.replyId = call.raw.id;
    call.cancel = () => this.host.expire(session);
    call.done = () => {
      if (!this.isParked(session)) this.host.expire(session);
    };
    this.host.rebind(session, call.exchange, call.raw.id, progressTokenOf(call.req));
    const held = st.held;
    st.held = [];
    st.heldBytes = 0;
    if (held.length > 0) this.host.deliver(session, held.map((h) => h.m));
    if (st.asked.size > 0) this.ask(session, st);
  }

  /** The session ended: drop its parked state. */
  forget(session: S): void {
    const st = session.data.mrtr;
    if (!st) return;
    if (st.timer) clearTimeout(st.timer);
    st.timer = null;
    if (st.handle !== null && this.parked.get(st.handle) === session) this.parked.delete(st.handle);
    st.exchange = null;
    st.held = [];
    st.heldBytes = 0;
  }

  close(): void {
    for (const s of [...this.parked.values()]) this.host.expire(s);
  }

  /** Answer the current round with input_required and park the session. */
  private ask(session: S, st: MrtrState): void {
    const exchange = st.exchange;
    if (!exchange) return;
    const inputRequests: Record<string, unknown> = {};
    for (const [key, m] of st.asked) {
      inputRequests[key] = m.params === undefined ? { method: m.method } : { method: m.method, params: m.params };
      st.offered.add(key);
    }
    st.handle = randomBytes(18).toString('base64url');
    this.parked.set(st.handle, session);
    st.exchange = null;
    this.host.rebind(session, null, st.replyId);
    st.timer = setTimeout(() => {
      st.timer = null;
      this.host.log?.(`bridge: no retry for an input_required ${st.method} within ${this.timeoutMs} ms; stopping its process`);
      this.host.expire(session);
    }, this.timeoutMs);
    st.timer.unref();
    exchange.respond(resultResponse(st.replyId, { resultType: 'input_required', inputRequests, requestState: st.handle }));
  }
}
