import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/errors.js';
import type { ClientIdentity } from '../types.js';
import type { Exchange } from './exchange.js';
import { PostExchange } from './exchange.js';
import { SSE_KEEPALIVE, VERSION_HEADER, headerValue, rpcCodeFor, sendJson, sseEvent, startSse } from '../wire/http.js';
import type { JsonRpcErrorObject, JsonRpcId, JsonRpcMessage, JsonRpcRequest } from '../wire/jsonrpc.js';
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  TOO_MANY_SESSIONS,
  UPSTREAM_UNAVAILABLE,
  errorResponse,
  isNotification,
  isRequest,
  resultResponse,
} from '../wire/jsonrpc.js';
import type { Envelope, ListenFilter, ModernRefusal } from '../wire/modern.js';
import {
  HEADER_MISMATCH,
  METHOD_HEADER,
  UNSUPPORTED_VERSION,
  NAME_HEADER,
  SUBSCRIPTION_ID_KEY,
  checkHeaders,
  decorateResult,
  discoverResult,
  filterAccepts,
  honoredFilter,
  isRefusal,
  readEnvelope,
  stripEnvelope,
  tagNotification,
} from '../wire/modern.js';

/** One stateless (2026-07-28) request handed to a bridge. */
export interface StatelessCall {
  /** The request as an older stdio server should see it (envelope keys removed). */
  readonly req: JsonRpcRequest;
  /** The request as the client sent it (retries carry `requestState` / `inputResponses` here). */
  readonly raw: JsonRpcRequest;
  readonly env: Envelope;
  readonly exchange: Exchange;
  /** Who sent it, when the gateway knows (a process started for the call serves that client). */
  readonly client?: ClientIdentity;
  /** Set by the bridge: stop working on the request (client cancelled or went away). */
  cancel: (() => void) | null;
  /** Set by the bridge: the exchange is over (after its answer was sent). */
  done: (() => void) | null;
}

/** A `subscriptions/listen` stream: server notifications matching `filter`, tagged with `id`. */
export interface ListenStream {
  readonly id: JsonRpcId;
  readonly filter: ListenFilter;
  /** The listening client's envelope (its capabilities, for a process started for the stream). */
  readonly env: Envelope;
  /** Who listens, when the gateway knows. */
  readonly client?: ClientIdentity;
  /** Deliver a server notification if the filter accepts it (dropped until the stream is acknowledged). */
  deliver(method: string, params: Record<string, unknown> | undefined): void;
  /** End the stream with an error answer to the listen request (e.g. its process exited). */
  fail(error: JsonRpcErrorObject): void;
}

/** What the stateless front end needs from a bridge mode. */
export interface StatelessBackend {
  /** The stdio server's initialize result (handshaking a process first if nothing is cached). */
  initResult(): Promise<Record<string, unknown>>;
  /** The cached initialize result, if any (for serverInfo on results). */
  cachedInit(): Record<string, unknown> | null;
  statelessRequest(call: StatelessCall): void;
  /** Which listen filters the mode can honour. */
  readonly listenSupport: { listChanged: boolean; resources: boolean };
  /**
   * Start delivering to a listen stream; the stream is acknowledged once this returns (or its promise
   * settles). Throwing (a BerthError) refuses the listen request. `unlisten` follows exactly once, when
   * the stream closes, also after a refusal or while `listen` is still settling.
   */
  listen(stream: ListenStream): void | Promise<void>;
  unlisten(stream: ListenStream): void;
}

export interface StatelessOptions {
  sseAfterMs: number;
  keepaliveMs: number;
  log?: (line: string) => void;
}

/** Berth's stable code for each refusal, carried in error.data.code beside the spec's own data. */
const REFUSAL_CODES: Record<number, ErrorCode> = {
  [INVALID_PARAMS]: 'INVALID_ENVELOPE',
  [INVALID_REQUEST]: 'INVALID_JSONRPC',
  [HEADER_MISMATCH]: 'HEADER_MISMATCH',
  [UNSUPPORTED_VERSION]: 'UNSUPPORTED_PROTOCOL_VERSION',
  [UPSTREAM_UNAVAILABLE]: 'UPSTREAM_UNAVAILABLE',
  [TOO_MANY_SESSIONS]: 'TOO_MANY_SESSIONS',
};

/** Sends a modern refusal: the spec's HTTP status and a JSON-RPC error naming the request id. */
export function sendRefusal(res: ServerResponse, r: ModernRefusal, id: JsonRpcId | null): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const data = { code: REFUSAL_CODES[r.code] ?? 'INTERNAL', ...(r.data as Record<string, unknown> | undefined) };
  sendJson(res, r.status, JSON.stringify(errorResponse(id, r.code, r.message, data)));
}

/** Answers decorated the way the revision requires (resultType, cache hints, serverInfo). */
class ModernExchange implements Exchange {
  answered = false;
  constructor(
    private readonly inner: PostExchange,
    private readonly method: string,
    private readonly serverInfo: () => unknown,
  ) {}

  get open(): boolean {
    return this.inner.open;
  }

  respond(msg: object | string): void {
    const m = (typeof msg === 'string' ? JSON.parse(msg) : msg) as Record<string, unknown>;
    if ('result' in m) m.result = decorateResult(this.method, m.result, this.serverInfo());
    this.answered = true;
    this.inner.respond(m);
  }

  notify(msg: object | string): boolean {
    return this.inner.notify(msg);
  }

  abandon(): void {
    this.inner.abandon();
  }

  abandonAll(): void {
    this.inner.abandonAll();
  }
}

class Listener implements ListenStream {
  private timer: NodeJS.Timeout | null = null;
  constructor(
    readonly id: JsonRpcId,
    readonly filter: ListenFilter,
    readonly env: Envelope,
    private readonly res: ServerResponse,
    readonly client?: ClientIdentity,
  ) {}

  /** The stream is acknowledged: notifications flow from now on. */
  start(keepaliveMs: number): void {
    const res = this.res;
    startSse(res);
    const ack = { jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { _meta: { [SUBSCRIPTION_ID_KEY]: this.id }, notifications: this.filter } };
    res.write(sseEvent(JSON.stringify(ack)));
    this.timer = setInterval(() => res.write(SSE_KEEPALIVE), keepaliveMs);
    this.timer.unref();
  }

  deliver(method: string, params: Record<string, unknown> | undefined): void {
    if (this.timer === null || this.res.writableEnded || !filterAccepts(this.filter, method, params)) return;
    this.res.write(sseEvent(tagNotification(method, params, this.id)));
  }

  fail(error: JsonRpcErrorObject): void {
    this.stop();
    if (this.res.writableEnded) return;
    const msg = JSON.stringify(errorResponse(this.id, error.code, error.message, error.data));
    if (this.res.headersSent) {
      this.res.write(sseEvent(msg));
      this.res.end();
    } else sendJson(this.res, 200, msg);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Graceful end: the empty listen result, then the stream closes. */
  end(): void {
    this.stop();
    if (this.res.writableEnded || !this.res.headersSent) return;
    this.res.write(sseEvent(JSON.stringify(resultResponse(this.id, { _meta: { [SUBSCRIPTION_ID_KEY]: this.id }, resultType: 'complete' }))));
    this.res.end();
  }
}

/** Serves protocol revision 2026-07-28 requests (no session) over a bridge mode. */
export class StatelessFront {
  private readonly inflight = new Set<StatelessCall>();
  private readonly listeners = new Set<Listener>();

  constructor(
    private readonly backend: StatelessBackend,
    private readonly opts: StatelessOptions,
  ) {}

  get inFlight(): number {
    return this.inflight.size;
  }

  async handle(req: IncomingMessage, res: ServerResponse, msg: JsonRpcMessage, client?: ClientIdentity): Promise<void> {
    const headers = { version: headerValue(req, VERSION_HEADER), method: headerValue(req, METHOD_HEADER), name: headerValue(req, NAME_HEADER) };
    if (isNotification(msg)) {
      const env = readEnvelope(msg.params, false);
      const bad = isRefusal(env) ? env : checkHeaders(headers, msg.method, msg.params, env.version, false);
      if (bad) return sendRefusal(res, bad, null);
      // A stateless notifications/cancelled names only a request id, which other clients may use too:
      // acting on it would let one client cancel another's calls. Stateless calls are cancelled by closing
      // their HTTP response (see request()), so notifications are acknowledged and not forwarded.
      res.writeHead(202).end();
      return;
    }
    if (!isRequest(msg)) {
      return sendRefusal(res, { status: 400, code: -32600, message: 'Bad Request: JSON-RPC responses cannot be posted without a session' }, null);
    }
    const env = readEnvelope(msg.params, true);
    const bad = isRefusal(env) ? env : checkHeaders(headers, msg.method, msg.params, env.version, true);
    if (bad) return sendRefusal(res, bad, msg.id);
    if (isRefusal(env)) return;
    switch (msg.method) {
      case 'server/discover':
        return this.discover(res, msg);
      case 'subscriptions/listen':
        return this.listen(res, msg, env, client);
      case 'initialize':
        sendJson(res, 200, JSON.stringify(errorResponse(msg.id, METHOD_NOT_FOUND, `initialize is not a method of protocol revision ${env.version}; use server/discover`)));
        return;
      default:
        this.request(res, msg, env, client);
    }
  }

  /** Ends listen streams gracefully (bridge closing). */
  close(): void {
    for (const l of this.listeners) l.end();
    this.listeners.clear();
  }

  private async discover(res: ServerResponse, msg: JsonRpcRequest): Promise<void> {
    let init: Record<string, unknown>;
    try {
      init = await this.backend.initResult();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return sendRefusal(res, { status: 503, code: UPSTREAM_UNAVAILABLE, message: `MCP server unavailable: ${why}` }, msg.id);
    }
    sendJson(res, 200, JSON.stringify(resultResponse(msg.id, discoverResult(init))));
  }

  private request(res: ServerResponse, msg: JsonRpcRequest, env: Envelope, client: ClientIdentity | undefined): void {
    const inner = new PostExchange(res, 1, false, this.opts.sseAfterMs, this.opts.keepaliveMs);
    const exchange = new ModernExchange(inner, msg.method, () => this.backend.cachedInit()?.serverInfo);
    const params = stripEnvelope(msg.params);
    const stripped: JsonRpcRequest = params === undefined ? { jsonrpc: '2.0', id: msg.id, method: msg.method } : { jsonrpc: '2.0', id: msg.id, method: msg.method, params };
    const call: StatelessCall = { req: stripped, raw: msg, env, exchange, cancel: null, done: null, ...(client ? { client } : {}) };
    this.inflight.add(call);
    inner.onDone = () => {
      this.inflight.delete(call);
      if (exchange.answered) call.done?.();
      else call.cancel?.();
    };
    try {
      this.backend.statelessRequest(call);
    } catch (err) {
      this.opts.log?.(`bridge: stateless request failed: ${err instanceof Error ? err.message : String(err)}`);
      exchange.respond(errorResponse(msg.id, INTERNAL_ERROR, 'Internal error'));
    }
  }

  private async listen(res: ServerResponse, msg: JsonRpcRequest, env: Envelope, client: ClientIdentity | undefined): Promise<void> {
    let caps: Record<string, unknown> = {};
    try {
      const init = await this.backend.initResult();
      caps = (init.capabilities ?? {}) as Record<string, unknown>;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      return sendRefusal(res, { status: 503, code: UPSTREAM_UNAVAILABLE, message: `MCP server unavailable: ${why}` }, msg.id);
    }
    const support = this.backend.listenSupport;
    const filter = support.listChanged || support.resources ? honoredFilter(msg.params?.notifications, caps, support.resources) : {};
    if (!support.listChanged) {
      delete filter.toolsListChanged;
      delete filter.promptsListChanged;
      delete filter.resourcesListChanged;
    }
    const listener = new Listener(msg.id, filter, env, res, client);
    let closed = false;
    res.on('close', () => {
      closed = true;
      listener.stop();
      this.listeners.delete(listener);
      this.backend.unlisten(listener);
    });
    try {
      await this.backend.listen(listener);
    } catch (err) {
      if (closed) return;
      const e = err instanceof BerthError ? err : new BerthError('UPSTREAM_UNAVAILABLE', `MCP server unavailable: ${err instanceof Error ? err.message : String(err)}`);
      return sendRefusal(res, { status: e.status, code: rpcCodeFor(e.code), message: e.message, data: { code: e.code } }, msg.id);
    }
    if (closed || res.writableEnded) return;
    listener.start(this.opts.keepaliveMs);
    this.listeners.add(listener);
  }
}
