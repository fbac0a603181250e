/**
 * A channel to a remote that speaks only the stateless revision 2026-07-28, so that clients with
 * sessions (2025-11-25 Streamable HTTP, legacy HTTP+SSE) can use it through the bridge:
 *
 * - `initialize` is answered here from the remote's `server/discover`; the client's capabilities,
 *   clientInfo and (after `logging/setLevel`) log level go into the `_meta` envelope of every request;
 * - each request is one POST with the standard headers (`MCP-Protocol-Version`, `Mcp-Method`,
 *   `Mcp-Name`); notifications on its event stream (progress, log messages) are handed over as they come;
 * - an `input_required` result becomes server→client requests (sampling, elicitation, roots) sent to
 *   the client; once all are answered the request is retried with `inputResponses` + `requestState`
 *   (the reverse of ../mrtr.ts);
 * - list_changed and `resources/subscribe` are served by a `subscriptions/listen` stream;
 * - `notifications/cancelled` aborts the request's POST (closing it is cancellation in this revision).
 */
import { LATEST_PROTOCOL_VERSION, VERSION_HEADER, isSupportedVersion } from '../wire/http.js';
import type { JsonRpcErrorObject, JsonRpcId, JsonRpcMessage, JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';
import { INVALID_PARAMS, UPSTREAM_UNAVAILABLE, errorResponse, idKey, isNotification, isObject, isRequest, isResponse, resultResponse } from '../wire/jsonrpc.js';
import {
  CLIENT_CAPABILITIES_KEY,
  CLIENT_INFO_KEY,
  LOG_LEVEL_KEY,
  METHOD_HEADER,
  MODERN_VERSION,
  NAME_HEADER,
  PROTOCOL_VERSION_KEY,
  SERVER_INFO_KEY,
  SUBSCRIPTION_ID_KEY,
  metaOf,
} from '../wire/modern.js';
import { RemoteChannel, type ChannelLog } from './channel.js';
import { JSON_AND_SSE, errorText, readMessages, rpcErrorIn, encodeHeaderValue, type RemoteHttp } from './wire.js';

/** Longest a request waits for a listen stream being opened to be acknowledged before it goes anyway. */
const LISTEN_ACK_WAIT_MS = 5_000;

export interface StatelessChannelOptions {
  http: RemoteHttp;
  key: string;
  log?: ChannelLog;
  /** The remote's `server/discover` result (the endpoint caches it). */
  discover(): Promise<Record<string, unknown>>;
  /** Pause before a listen stream that ended is opened again, and before a state-only retry. */
  retryMs?: number;
  /** Most `input_required` rounds one request may take. */
  maxRounds?: number;
}

/** Methods whose `Mcp-Name` header mirrors a params field. */
const NAME_SOURCE: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };
const LIST_CHANGED: [string, string][] = [
  ['tools', 'toolsListChanged'],
  ['prompts', 'promptsListChanged'],
  ['resources', 'resourcesListChanged'],
];


/** One client request in flight, possibly over several `input_required` rounds. */
interface Call {
  readonly id: JsonRpcId;
  readonly method: string;
  readonly ac: AbortController;
  /** The round waiting for the client's answers to our server→client requests. */
  round: { answers: Record<string, unknown>; left: number; done(err: JsonRpcErrorObject | null): void } | null;
}

class CallFailed extends Error {
  constructor(readonly error: JsonRpcErrorObject) {
    super(error.message);
  }
}

export class StatelessChannel extends RemoteChannel {
  private readonly http: RemoteHttp;
  private readonly retryMs: number;
  private readonly maxRounds: number;
  private capabilities: Record<string, unknown> = {};
  private clientInfo: Record<string, unknown> | undefined;
  private logLevel: string | undefined;
  private remoteCaps: Record<string, unknown> = {};
  private readonly calls = new Map<string | number, Call>();
  /** Our server→client request ids → the call and the inputRequests key they answer. */
  private readonly asked = new Map<string, { call: Call; key: string }>();
  private readonly subscriptions = new Set<string>();
  private listen: AbortController | null = null;
  private listenTimer: NodeJS.Timeout | null = null;
  /** Set while a listen stream is opening: settles when the remote acknowledged it (or it failed). */
  private listenOpening: Promise<void> | null = null;
  private seq = 0;

  constructor(private readonly opts: StatelessChannelOptions) {
    super(opts.key, opts.log);
    this.http = opts.http;
    this.retryMs = opts.retryMs ?? 1000;
    this.maxRounds = opts.maxRounds ?? 16;
  }

  protected receive(msg: JsonRpcMessage): void {
    if (isRequest(msg)) return this.request(msg);
    if (isResponse(msg)) return this.answer(msg);
    if (!isNotification(msg)) return;
    if (msg.method === 'notifications/initialized') this.relisten();
    else if (msg.method === 'notifications/cancelled') {
      const rid = msg.params?.requestId;
      if (typeof rid === 'string' || typeof rid === 'number') this.calls.get(idKey(rid))?.ac.abort();
    }
    // Other client notifications (roots/list_changed, …) have no session to go to in this revision.
  }

  protected teardown(): void {
    for (const call of this.calls.values()) call.ac.abort();
    this.calls.clear();
    this.asked.clear();
    this.stopListen();
  }

  private request(req: JsonRpcRequest): void {
    const p = req.params ?? {};
    switch (req.method) {
      case 'initialize':
        void this.initialize(req);
        return;
      case 'logging/setLevel':
        if (typeof p.level === 'string') this.logLevel = p.level;
        this.emit(resultResponse(req.id, {}));
        return;
      case 'resources/subscribe':
      case 'resources/unsubscribe':
        if (typeof p.uri !== 'string') return this.emit(errorResponse(req.id, INVALID_PARAMS, 'Invalid params: uri must be a string'));
        if (req.method === 'resources/subscribe') this.subscriptions.add(p.uri);
        else this.subscriptions.delete(p.uri);
        this.relisten();
        // Answered once the new listen stream is acknowledged: the subscription is in place by then.
        void this.listenSettled().then(() => this.emit(resultResponse(req.id, {})));
        return;
      default:
        void this.call(req);
    }
  }

  /** The handshake this revision does not have, answered from `server/discover`. */
  private async initialize(req: JsonRpcRequest): Promise<void> {
    const p = req.params ?? {};
    this.capabilities = isObject(p.capabilities) ? p.capabilities : {};
    this.clientInfo = isObject(p.clientInfo) ? p.clientInfo : undefined;
    let d: Record<string, unknown>;
    try {
      d = await this.opts.discover();
    } catch (err) {
      this.emit(errorResponse(req.id, UPSTREAM_UNAVAILABLE, `the remote did not answer server/discover: ${errorText(err)}`));
      return;
    }
    this.remoteCaps = isObject(d.capabilities) ? d.capabilities : {};
    const serverInfo = d.serverInfo ?? metaOf(d)?.[SERVER_INFO_KEY] ?? { name: 'remote', version: '0' };
    const result: Record<string, unknown> = {
      protocolVersion: isSupportedVersion(p.protocolVersion) ? p.protocolVersion : LATEST_PROTOCOL_VERSION,
      capabilities: this.remoteCaps,
      serverInfo,
    };
    if (typeof d.instructions === 'string') result.instructions = d.instructions;
    this.emit(resultResponse(req.id, result));
  }

  /** The `_meta` envelope this revision wants on every request. */
  private envelope(params: Record<string, unknown>): Record<string, unknown> {
    const meta: Record<string, unknown> = { ...metaOf(params), [PROTOCOL_VERSION_KEY]: MODERN_VERSION, [CLIENT_CAPABILITIES_KEY]: this.capabilities };
    if (this.clientInfo) meta[CLIENT_INFO_KEY] = this.clientInfo;
    // A 2025 server sends log messages until told otherwise; this revision sends none unless asked.
    const level = this.logLevel ?? (this.remoteCaps.logging !== undefined ? 'debug' : undefined);
    if (level !== undefined) meta[LOG_LEVEL_KEY] = level;
    return { ...params, _meta: meta };
  }

  private headers(method: string, params: Record<string, unknown>): Record<string, string> {
    const h: Record<string, string> = { 'content-type': 'application/json', accept: JSON_AND_SSE, [VERSION_HEADER]: MODERN_VERSION, [METHOD_HEADER]: method };
    const field = NAME_SOURCE[method];
    const name = field === undefined ? undefined : params[field];
    if (typeof name === 'string') h[NAME_HEADER] = encodeHeaderValue(name);
    return h;
  }

  private async call(req: JsonRpcRequest): Promise<void> {
    const call: Call = { id: req.id, method: req.method, ac: new AbortController(), round: null };
    this.calls.set(idKey(req.id), call);
    // A change this call causes must find the listen stream already open, or its notification is lost.
    await this.listenSettled();
    const base = req.params ?? {};
    let extra: Record<string, unknown> = {};
    try {
      for (let round = 1; ; round++) {
        // A retry is a new request (fresh id), as the SDK clients send it; the client sees one answer under its id.
        const answer = await this.post(call, round === 1 ? call.id : `berth-retry-${++this.seq}`, { ...base, ...extra });
        if ('error' in answer) return this.emit({ ...answer, id: req.id });
        const result = isObject(answer.result) ? answer.result : {};
        if (result.resultType !== 'input_required') {
          const { resultType: _drop, ...rest } = result;
          return this.emit(resultResponse(req.id, rest));
        }
        if (round >= this.maxRounds) throw new CallFailed({ code: UPSTREAM_UNAVAILABLE, message: `the remote asked for input ${round} times in a row; giving up` });
        const requests = isObject(result.inputRequests) ? result.inputRequests : {};
        const state = typeof result.requestState === 'string' ? result.requestState : undefined;
        const keys = Object.keys(requests);
        if (keys.length === 0 && state === undefined) throw new CallFailed({ code: UPSTREAM_UNAVAILABLE, message: 'the remote answered input_required with neither inputRequests nor requestState' });
        extra = {};
        if (keys.length > 0) extra.inputResponses = await this.ask(call, requests);
        else await this.pause(call, this.retryMs);
        if (state !== undefined) extra.requestState = state;
      }
    } catch (err) {
      if (call.ac.signal.aborted || this.closed) return; // cancelled or stopped: no answer is expected
      const e = err instanceof CallFailed ? err.error : { code: UPSTREAM_UNAVAILABLE, message: `the remote failed: ${errorText(err)}` };
      this.emit(errorResponse(req.id, e.code, e.message, e.data));
    } finally {
      this.calls.delete(idKey(req.id));
      for (const [id, a] of this.asked) if (a.call === call) this.asked.delete(id);
    }
  }

  /** One round: POST the request, hand over its notifications, return its response. */
  private async post(call: Call, id: JsonRpcId, params: Record<string, unknown>): Promise<JsonRpcResponse> {
    const body = JSON.stringify({ jsonrpc: '2.0', id, method: call.method, params: this.envelope(params) });
    const res = await this.http.request({ method: 'POST', headers: this.headers(call.method, params), body, signal: call.ac.signal });
    if (res.statusCode >= 400) {
      const text = await res.body.text();
      const e = rpcErrorIn(text);
      throw new CallFailed(e ?? { code: UPSTREAM_UNAVAILABLE, message: `the remote answered HTTP ${res.statusCode}: ${text.slice(0, 200)}` });
    }
    let final: JsonRpcResponse | undefined;
    await readMessages(res, (m) => {
      if (isResponse(m)) {
        if (m.id !== null && idKey(m.id) === idKey(id)) final = m;
      } else if (isNotification(m)) this.emit(m);
      // A request here would be the 2025 push model, which this revision replaced with input_required.
    });
    if (!final) throw new CallFailed({ code: UPSTREAM_UNAVAILABLE, message: 'the remote closed the response without answering' });
    return final;
  }

  /** Send the remote's input requests to the client; resolves with the answers keyed as the remote keyed them. */
  private ask(call: Call, requests: Record<string, unknown>): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => finish({ code: UPSTREAM_UNAVAILABLE, message: 'cancelled' });
      const finish = (err: JsonRpcErrorObject | null): void => {
        call.ac.signal.removeEventListener('abort', onAbort);
        const round = call.round;
        call.round = null;
        if (err) reject(new CallFailed(err));
        else resolve(round?.answers ?? {});
      };
      call.round = { answers: {}, left: 0, done: finish };
      call.ac.signal.addEventListener('abort', onAbort, { once: true });
      for (const [key, r] of Object.entries(requests)) {
        if (!isObject(r) || typeof r.method !== 'string') return finish({ code: UPSTREAM_UNAVAILABLE, message: `the remote sent an invalid input request under "${key}"` });
        const id = `berth-input-${++this.seq}`;
        this.asked.set(id, { call, key });
        call.round.left++;
        this.emit(r.params === undefined ? { jsonrpc: '2.0', id, method: r.method } : { jsonrpc: '2.0', id, method: r.method, params: r.params });
      }
    });
  }

  /** The client answered one of our server→client requests. */
  private answer(msg: JsonRpcResponse): void {
    if (msg.id === null) return;
    const entry = this.asked.get(String(msg.id));
    if (!entry) return;
    this.asked.delete(String(msg.id));
    const round = entry.call.round;
    if (!round) return;
    if ('error' in msg) return round.done({ code: msg.error.code, message: `the client refused the server's request: ${msg.error.message}`, data: msg.error.data });
    round.answers[entry.key] = msg.result;
    if (--round.left === 0) round.done(null);
  }

  private pause(call: Call, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      call.ac.signal.addEventListener('abort', () => (clearTimeout(t), reject(new Error('cancelled'))), { once: true });
    });
  }

  // ---- subscriptions/listen: list_changed, resources/updated and log messages outside requests ----

  private listenFilter(): Record<string, unknown> | null {
    const f: Record<string, unknown> = {};
    for (const [cap, key] of LIST_CHANGED) {
      const c = this.remoteCaps[cap];
      if (isObject(c) && c.listChanged === true) f[key] = true;
    }
    if (this.subscriptions.size > 0) f.resourceSubscriptions = [...this.subscriptions];
    return Object.keys(f).length > 0 ? f : null;
  }

  private stopListen(): void {
    this.listen?.abort();
    this.listen = null;
    if (this.listenTimer) clearTimeout(this.listenTimer);
    this.listenTimer = null;
  }

  /** Waits for a listen stream being opened to be acknowledged, at most LISTEN_ACK_WAIT_MS. */
  private async listenSettled(): Promise<void> {
    const deadline = Date.now() + LISTEN_ACK_WAIT_MS;
    // A stream replaced while we wait (a new subscription) has to be acknowledged too.
    for (let opening = this.listenOpening; opening; opening = this.listenOpening) {
      const left = deadline - Date.now();
      if (left <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([opening, new Promise<void>((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
  }

  /** (Re)open the listen stream with the current filter, or close it when nothing is wanted. */
  private relisten(): void {
    this.stopListen();
    const filter = this.listenFilter();
    if (this.closed || !filter) return;
    const ac = new AbortController();
    this.listen = ac;
    let opened = (): void => {};
    const opening = new Promise<void>((r) => (opened = r));
    this.listenOpening = opening;
    const settle = (): void => {
      if (this.listenOpening === opening) this.listenOpening = null;
      opened();
    };
    const id = `berth-listen-${++this.seq}`;
    const params = { notifications: filter };
    // Ends normally ('again': reopen after a pause) or refused ('stop': the remote does not listen).
    const run = async (): Promise<'again' | 'stop'> => {
      const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: this.envelope(params) });
      const res = await this.http.request({ method: 'POST', headers: this.headers('subscriptions/listen', params), body, signal: ac.signal });
      if (res.statusCode >= 400) {
        const text = await res.body.text();
        this.log(`remote channel ${this.key}: the remote refused subscriptions/listen (HTTP ${res.statusCode}: ${text.slice(0, 200)}); no list_changed notifications`);
        return 'stop';
      }
      let refused: JsonRpcErrorObject | undefined;
      await readMessages(res, (m) => {
        if (isResponse(m) && 'error' in m) refused = m.error;
        if (isNotification(m) && m.method === 'notifications/subscriptions/acknowledged') settle();
        if (!isNotification(m) || m.method === 'notifications/subscriptions/acknowledged') return;
        this.emit(untagged(m.method, m.params));
      });
      if (refused) this.log(`remote channel ${this.key}: the remote refused subscriptions/listen (${refused.code} ${refused.message}); no list_changed notifications`);
      return refused ? 'stop' : 'again';
    };
    run()
      .catch((err: unknown) => {
        if (!ac.signal.aborted) this.log(`remote channel ${this.key}: listen stream failed: ${errorText(err)}`);
        return 'again' as const;
      })
      .then((next) => {
        settle();
        if (this.listen !== ac || this.closed) return;
        this.listen = null;
        if (next === 'stop') return;
        this.listenTimer = setTimeout(() => {
          this.listenTimer = null;
          if (!this.listen) this.relisten();
        }, this.retryMs);
        this.listenTimer.unref();
      });
  }
}

/** A listen stream's notification without the subscription id tag it carries. */
function untagged(method: string, params: Record<string, unknown> | undefined): object {
  const meta = metaOf(params);
  if (!params || !meta || !(SUBSCRIPTION_ID_KEY in meta)) return params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
  const { [SUBSCRIPTION_ID_KEY]: _sub, ...rest } = meta;
  const out: Record<string, unknown> = { ...params };
  if (Object.keys(rest).length > 0) out._meta = rest;
  else delete out._meta;
  return { jsonrpc: '2.0', method, params: out };
}
