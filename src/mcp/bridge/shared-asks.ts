/**
 * Shared mode's server→client requests. One process serves every session and a stdio server's request names
 * no session, so a request goes to a client only where its session is certain: every client request the process
 * is working on when it asks comes from one session (a request that serves a call can only serve a call in
 * flight). Where it is not certain, the server gets -32601 with the reason, and status says to run isolated.
 *
 * A stateless (2026-07-28) call that is the one caller gets them as an `input_required` result (multi round-trip,
 * front/mrtr.ts), as in isolated mode. Never routed, whatever the sessions: roots/list (the server would apply one
 * client's roots to every client).
 */
import type { Exchange } from '../front/exchange.js';
import type { Session } from '../front/transport.js';
import type { JsonRpcId, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';
import { INTERNAL_ERROR, METHOD_NOT_FOUND, REQUEST_TIMEOUT, UPSTREAM_BUSY, errorResponse, idKey } from '../wire/jsonrpc.js';
import { undeclaredFeature } from './prime.js';
import type { SharedSession } from './shared-subs.js';
import type { Upstream } from './upstream.js';

type S = Session<SharedSession>;

/**
 * The client capabilities a shared process is initialized with: what shared mode can route. SDK servers ask
 * only a client that declared the feature (and some list their sampling tools only then); a session that did
 * not declare it gets the request refused as an isolated bridge would.
 */
export const SHARED_CLIENT_CAPABILITIES: Readonly<Record<string, unknown>> = Object.freeze({ sampling: {}, elicitation: { form: {} } });

/** Server requests waiting for a client's answer, across all sessions; past it the server is refused. */
export const MAX_SHARED_ASKS = 1000;

/** Why a request is not routed; `isolate`: running the deployment isolated would route it. */
export interface Refusal {
  message: string;
  isolate: boolean;
}

interface Ask {
  session: S;
  up: Upstream;
  serverId: JsonRpcId;
  timer: NodeJS.Timeout;
}

/** What the router needs from its shared bridge. */
export interface AskHost {
  /** The sessions whose requests `up` is working on, each with an exchange of one of them. */
  callers(up: Upstream): Map<S, Exchange | null>;
  sendToSession(session: S, json: string): void;
  /** The one caller is a stateless call: the request goes to it as input_required (multi round-trip). */
  stateless(session: S, m: JsonRpcRequest): void;
  /** A request was refused for lack of a certain session (status: the deployment should run isolated). */
  refused(method: string, reason: Refusal): void;
  /** How long a client has to answer. */
  timeoutMs: number;
  /** false: the deployment routes none (spec.shared.client_features false). */
  routing: boolean;
}

export class ServerAsks {
  private readonly asks = new Map<string, Ask>();
  private next = 1;

  constructor(private readonly host: AskHost) {}

  get size(): number {
    return this.asks.size;
  }

  /** The process asked for something of a client: send it to the one certain session, or refuse. */
  ask(m: JsonRpcRequest, up: Upstream): void {
    const target = this.target(m, up);
    if ('message' in target) {
      this.host.refused(m.method, target);
      up.send(errorResponse(m.id, METHOD_NOT_FOUND, `${m.method} is not available: ${target.message}`));
      return;
    }
    if (this.asks.size >= MAX_SHARED_ASKS) {
      up.send(errorResponse(m.id, UPSTREAM_BUSY, `${m.method} refused: ${MAX_SHARED_ASKS} server requests already wait for clients' answers`));
      return;
    }
    const { session, exchange } = target;
    if (session.kind === 'stateless') {
      this.host.stateless(session, m);
      return;
    }
    const key = `berth-${this.next++}`;
    const timer = setTimeout(() => this.expire(key), this.host.timeoutMs);
    timer.unref();
    this.asks.set(key, { session, up, serverId: m.id, timer });
    const json = JSON.stringify({ ...m, id: key });
    // The spec's place for a request that serves a call is that call's stream; else the session's GET stream.
    if (!exchange?.notify(json)) this.host.sendToSession(session, json);
  }

  /** A client answered: back to the process that asked, under its own id; an answer to anything else is dropped. */
  answer(session: S, msg: JsonRpcResponse): void {
    if (typeof msg.id !== 'string') return;
    const a = this.asks.get(msg.id);
    if (!a || a.session !== session) return;
    this.drop(msg.id, a);
    a.up.send({ ...msg, id: a.serverId });
  }

  /** The server cancelled a request of its own: tell the client it went to. True when it was one of ours. */
  cancelled(m: JsonRpcNotification, up: Upstream): boolean {
    const rid = m.params?.requestId;
    if (rid === undefined || rid === null || (typeof rid !== 'string' && typeof rid !== 'number')) return false;
    for (const [key, a] of this.asks) {
      if (a.up !== up || idKey(a.serverId) !== idKey(rid)) continue;
      this.drop(key, a);
      this.host.sendToSession(a.session, JSON.stringify({ ...m, params: { ...m.params, requestId: key } }));
      return true;
    }
    return false;
  }

  /** The session ended: its unanswered requests fail back to the server. */
  sessionEnded(session: S): void {
    for (const [key, a] of this.asks) {
      if (a.session !== session) continue;
      this.drop(key, a);
      a.up.send(errorResponse(a.serverId, INTERNAL_ERROR, 'the client session ended before it answered'));
    }
  }

  /** The process exited: nobody waits for its requests' answers. */
  exited(up: Upstream): void {
    for (const [key, a] of this.asks) if (a.up === up) this.drop(key, a);
  }

  close(): void {
    for (const [key, a] of this.asks) this.drop(key, a);
  }

  private target(m: JsonRpcRequest, up: Upstream): { session: S; exchange: Exchange | null } | Refusal {
    if (!this.host.routing) {
      return { message: 'this deployment runs in shared mode with spec.shared.client_features false; run the deployment in isolated mode for server-to-client requests', isolate: true };
    }
    if (m.method === 'roots/list') {
      return { message: 'this deployment runs in shared mode, where one client\'s roots would apply to every client; run the deployment in isolated mode for roots', isolate: true };
    }
    const callers = this.host.callers(up);
    if (callers.size !== 1) {
      const why = callers.size === 0 ? 'no client request is in progress' : `requests of ${callers.size} client sessions are in progress`;
      return { message: `this deployment runs in shared mode and ${why}, so the client it is for is not certain; run the deployment in isolated mode for server-to-client requests`, isolate: true };
    }
    const [session, exchange] = [...callers][0]!;
    const feature = undeclaredFeature(m.method, session.data.caps ?? {});
    if (feature !== undefined) {
      return { message: `the client did not declare the ${feature} capability`, isolate: false };
    }
    return { session, exchange };
  }

  private expire(key: string): void {
    const a = this.asks.get(key);
    if (!a) return;
    this.drop(key, a);
    a.up.send(errorResponse(a.serverId, REQUEST_TIMEOUT, `the client did not answer within ${this.host.timeoutMs} ms`));
    this.host.sendToSession(a.session, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: key, reason: 'no answer in time' } }));
  }

  private drop(key: string, a: Ask): void {
    clearTimeout(a.timer);
    this.asks.delete(key);
  }
}
