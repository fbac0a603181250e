import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ToolSummary } from '../../core/index.js';
import type { ExitInfo } from '../../core/process.js';
import type { BridgeOptions, ClientIdentity, EndpointStats, SharedBridge } from '../types.js';
import type { Exchange } from '../front/exchange.js';
import type { Session, SessionEndReason, TransportBackend } from '../front/transport.js';
import type { ListenStream, StatelessBackend, StatelessCall } from '../front/stateless.js';
import { StreamableHttpTransport } from '../front/transport.js';
import { BerthError } from '../../core/errors.js';
import type { JsonRpcFailure, JsonRpcId, JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';
import {
  METHOD_NOT_FOUND,
  REQUEST_TIMEOUT,
  UPSTREAM_BUSY,
  UPSTREAM_EXITED,
  UPSTREAM_UNAVAILABLE,
  errorResponse,
  INVALID_REQUEST,
  serialize,
  isRequest,
  isResponse,
  progressTokenOf,
  resultResponse,
  withProgressToken,
} from '../wire/jsonrpc.js';
import { isSupportedVersion } from '../wire/http.js';
import { Supervisor } from './supervisor.js';
import { DEFAULT_MAX_STDIN_BYTES, describeExit } from './upstream.js';
import { collectTools } from './probe.js';

interface SharedSession {
  /** Resource URIs this session subscribed to. */
  subs: Set<string> | null;
}

type S = Session<SharedSession>;
/** A resource subscriber: a 2025 session or a 2026 listen stream. */
type Subscriber = S | ListenStream;
const isListen = (s: Subscriber): s is ListenStream => 'deliver' in s;

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
}

/** Create a bridge that multiplexes all client sessions onto one stdio server process. */
export function createSharedBridge(opts: BridgeOptions): SharedBridge {
  return new SharedBridgeImpl(opts);
}

class SharedBridgeImpl implements SharedBridge, TransportBackend<SharedSession>, StatelessBackend {
  private readonly transport: StreamableHttpTransport<SharedSession>;
  private readonly sup: Supervisor;
  private readonly pending = new Map<number, Pending>();
  private readonly subscribers = new Map<string, Set<Subscriber>>();
  private readonly listeners = new Set<ListenStream>();
  private readonly refused = new Set<string>();
  readonly listenSupport = { listChanged: true, resources: true };
  private nextId = 1;
  private closing = false;
  /** Bytes of requests not yet written to the process (it is starting, or restarting). */
  private queued = 0;
  private readonly maxQueued: number;

  constructor(private readonly opts: BridgeOptions) {
    this.maxQueued = opts.maxStdinBytes ?? DEFAULT_MAX_STDIN_BYTES;
    this.transport = new StreamableHttpTransport(this, {
      limits: opts.limits,
      sseAfterMs: opts.timing?.sseAfterMs,
      keepaliveMs: opts.timing?.keepaliveMs,
      log: opts.log,
      stateless: this,
    });
    this.sup = new Supervisor(opts, {
      onMessage: (m) => this.onUpstream(m),
      onReady: () => this.onReady(),
      onExit: (_up, exit) => this.failSent(exit),
      onGaveUp: (reason) => this.failAll(UPSTREAM_UNAVAILABLE, `MCP server unavailable: ${reason}`),
    });
  }

  start(): Promise<void> {
    return this.sup.start();
  }

  handle(req: IncomingMessage, res: ServerResponse, body: Buffer, client?: ClientIdentity): Promise<void> {
    return this.transport.handle(req, res, body, client);
  }

  handleLegacy(req: IncomingMessage, res: ServerResponse, body: Buffer, kind: 'sse' | 'message', basePath: string, client?: ClientIdentity): Promise<void> {
    return this.transport.handleLegacy(req, res, body, kind, basePath, client);
  }

  async probe(timeoutMs: number): Promise<{ tools: ToolSummary[] }> {
    const deadline = Date.now() + timeoutMs;
    const tools = await collectTools(async (params) => {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('probe timed out');
      return this.internalRequest('tools/list', params, left);
    });
    return { tools };
  }

  stats(): EndpointStats {
    return { sessions: this.transport.sessions.size, processes: this.sup.up?.alive ? 1 : 0, inFlight: this.pending.size };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.failAll(UPSTREAM_UNAVAILABLE, 'The endpoint is closing');
    this.transport.close();
    await this.sup.close(this.opts.timing?.stopGraceMs);
  }

  // ---- TransportBackend ----

  newSessionData(): SharedSession {
    return { subs: null };
  }

  async initialize(_session: S, req: JsonRpcRequest): Promise<JsonRpcResponse> {
    this.opts.events?.onClientRequest?.(req.method);
    try {
      await this.sup.waitReady(this.opts.limits.requestTimeoutMs);
    } catch (err) {
      throw new BerthError('UPSTREAM_UNAVAILABLE', `MCP server unavailable: ${err instanceof Error ? err.message : String(err)}`);
    }
    const cached = this.sup.initResult ?? {};
    const upstreamVersion = String(cached.protocolVersion ?? '');
    const asked = req.params?.protocolVersion;
    const version = isSupportedVersion(asked) && (asked as string) <= upstreamVersion ? (asked as string) : upstreamVersion;
    return resultResponse(req.id, { ...cached, protocolVersion: version });
  }

  request(session: S, req: JsonRpcRequest, exchange: Exchange): void {
    this.opts.events?.onClientRequest?.(req.method);
    if (req.method === 'resources/subscribe' || req.method === 'resources/unsubscribe') {
      const uri = req.params?.uri;
      if (typeof uri === 'string' && this.subscription(session, req, exchange, uri)) return;
    }
    this.forward(session, exchange, req);
  }

  notification(session: S, msg: JsonRpcNotification): void {
    // initialized is answered by our own handshake; roots/progress have no shared meaning.
    if (msg.method !== 'notifications/cancelled') return;
    const rid = msg.params?.requestId;
    for (const [uid, p] of this.pending) {
      if (p.session !== session || p.clientId !== rid) continue;
      this.remove(uid, p);
      if (p.json === null) this.sup.up?.send({ ...msg, params: { ...msg.params, requestId: uid } });
      p.exchange?.abandon();
      return;
    }
  }

  response(_session: S, _msg: JsonRpcResponse): void {
    // Shared mode never forwards server requests to clients, so client responses have no target.
  }

  sessionEnded(session: S, _reason: SessionEndReason): void {
    const subs = session.data.subs;
    session.data.subs = null;
    if (subs) for (const uri of subs) this.dropSubscriber(session, uri);
    for (const [uid, p] of this.pending) {
      if (p.session !== session) continue;
      this.remove(uid, p);
      if (p.json === null) this.sendCancel(uid, 'session ended');
    }
  }

  // ---- StatelessBackend (revision 2026-07-28) ----

  async initResult(): Promise<Record<string, unknown>> {
    await this.sup.waitReady(this.opts.limits.requestTimeoutMs);
    return this.sup.initResult ?? {};
  }

  cachedInit(): Record<string, unknown> | null {
    return this.sup.initResult;
  }

  statelessRequest(call: StatelessCall): void {
    const session = this.transport.newSession('stateless');
    call.cancel = () => {
      this.notification(session, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.req.id, reason: 'client cancelled' } });
    };
    this.request(session, call.req, call.exchange);
  }

  /** Resolves once the upstream subscriptions the stream asked for are in place, so the ack comes after them. */
  async listen(stream: ListenStream): Promise<void> {
    this.listeners.add(stream);
    const setup: Promise<unknown>[] = [];
    for (const uri of stream.filter.resourceSubscriptions ?? []) {
      let set = this.subscribers.get(uri);
      const first = !set || set.size === 0;
      if (!set) this.subscribers.set(uri, (set = new Set()));
      set.add(stream);
      if (first && this.sup.ready) {
        setup.push(
          this.internalRequest('resources/subscribe', { uri }, this.opts.limits.requestTimeoutMs).catch((err: Error) =>
            this.opts.log?.(`bridge ${this.opts.deploymentId}: subscribe ${uri} failed: ${err.message}`),
          ),
        );
      }
    }
    await Promise.all(setup);
  }

  unlisten(stream: ListenStream): void {
    this.listeners.delete(stream);
    for (const uri of stream.filter.resourceSubscriptions ?? []) this.dropSubscriber(stream, uri);
  }

  // ---- requests upstream ----

  private forward(session: S | null, exchange: Exchange | null, req: JsonRpcRequest, internal: Pending['internal'] = null): void {
    const state = this.sup.state;
    if (state === 'gaveup' || state === 'closed' || this.closing) {
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
    const up = this.sup.ready ? this.sup.up : null;
    const busy = up?.backlogged ? up.busyError(req.id) : !up && this.queued > 0 && this.queued + json.length > this.maxQueued ? this.queueFull(req.id) : null;
    if (busy) {
      if (internal) internal(new Error(busy.error.message));
      else exchange?.respond(busy);
      return;
    }
    const timer = setTimeout(() => this.timedOut(uid), this.opts.limits.requestTimeoutMs);
    const p: Pending = { session, exchange, clientId: req.id, clientToken, json, timer, internal };
    this.pending.set(uid, p);
    this.queued += json.length;
    if (this.sup.ready) this.write(uid, p);
    else this.sup.ensureRunning();
  }

  /** Write a pending request to the process; a server that does not read its stdin gets no more (UPSTREAM_BUSY). */
  private write(uid: number, p: Pending): void {
    const up = this.sup.up;
    if (p.json === null || !up) return;
    if (up.backlogged) {
      this.remove(uid, p);
      this.reply(p, up.busyError(p.clientId));
      return;
    }
    if (!up.send(p.json)) return;
    this.queued -= p.json.length;
    p.json = null;
  }

  /** Forget a pending request (its timer too); what it had not written yet no longer counts as queued. */
  private remove(uid: number, p: Pending): void {
    this.pending.delete(uid);
    clearTimeout(p.timer);
    if (p.json !== null) this.queued -= p.json.length;
  }

  /** The answer to a request that does not fit the queue of requests waiting for the process to start. */
  private queueFull(id: JsonRpcId): JsonRpcFailure {
    const message = `MCP server busy: it is not ready, and ${this.queued} bytes of requests already wait for it (limit ${this.maxQueued}, BERTH_STDIN_BUFFER_BYTES); retry shortly`;
    return errorResponse(id, UPSTREAM_BUSY, message, { code: 'UPSTREAM_BUSY', waitingBytes: this.queued, maxStdinBytes: this.maxQueued });
  }

  private internalRequest(method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
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
      this.forward(null, null, req, done);
    });
  }

  private sendCancel(uid: number, reason: string): void {
    this.sup.up?.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: uid, reason } });
  }

  private timedOut(uid: number): void {
    const p = this.pending.get(uid);
    if (!p) return;
    this.remove(uid, p);
    if (p.json === null) this.sendCancel(uid, 'request timed out');
    const ms = this.opts.limits.requestTimeoutMs;
    this.reply(p, errorResponse(p.clientId, REQUEST_TIMEOUT, `Request timed out: the MCP server gave no answer within ${ms} ms`));
  }

  private reply(p: Pending, msg: JsonRpcResponse): void {
    if (p.internal) p.internal('error' in msg ? new Error(msg.error.message) : msg);
    else p.exchange?.respond(msg);
  }

  private onReady(): void {
    for (const uri of this.subscribers.keys()) {
      this.internalRequest('resources/subscribe', { uri }, this.opts.limits.requestTimeoutMs).catch((err: Error) =>
        this.opts.log?.(`bridge ${this.opts.deploymentId}: re-subscribe ${uri} failed: ${err.message}`),
      );
    }
    for (const [uid, p] of this.pending) this.write(uid, p);
  }

  /** The process exited: requests already written upstream will never be answered. */
  private failSent(exit: ExitInfo): void {
    const why = describeExit(exit);
    const data = { exitCode: exit.code, signal: exit.signal };
    for (const [uid, p] of this.pending) {
      if (p.json !== null) continue;
      this.remove(uid, p);
      this.reply(p, errorResponse(p.clientId, UPSTREAM_EXITED, `MCP server process exited (${why}) before answering`, data));
    }
  }

  private failAll(code: number, message: string): void {
    for (const [uid, p] of this.pending) {
      this.remove(uid, p);
      this.reply(p, errorResponse(p.clientId, code, message));
    }
  }

  // ---- messages from upstream ----

  private onUpstream(m: JsonRpcMessage): void {
    if (isResponse(m)) {
      const p = typeof m.id === 'number' ? this.pending.get(m.id) : undefined;
      if (!p) return;
      this.remove(m.id as number, p);
      if (p.internal) p.internal(m);
      else {
        m.id = p.clientId;
        p.exchange?.respond(m);
      }
      return;
    }
    if (isRequest(m)) {
      this.serverRequest(m);
      return;
    }
    this.serverNotification(m);
  }

  private serverRequest(m: JsonRpcRequest): void {
    if (m.method === 'ping') {
      this.sup.up?.send(resultResponse(m.id, {}));
      return;
    }
    if (!this.refused.has(m.method)) {
      const reason = `server sent ${m.method}; shared mode cannot route server requests, run the deployment in isolated mode`;
      if (this.refused.size === 0) this.opts.events?.onNeedsIsolation?.(reason);
      this.refused.add(m.method);
      this.opts.log?.(`bridge ${this.opts.deploymentId}: ${reason}`);
    }
    const msg = `${m.method} is not available: this deployment runs in shared mode; run it in isolated mode for server-to-client requests`;
    this.sup.up?.send(errorResponse(m.id, METHOD_NOT_FOUND, msg));
  }

  private serverNotification(m: JsonRpcNotification): void {
    const method = m.method;
    if (method === 'notifications/progress') {
      const token = m.params?.progressToken;
      const p = typeof token === 'number' ? this.pending.get(token) : undefined;
      if (!p || p.clientToken === undefined || !p.session) return;
      const json = JSON.stringify({ ...m, params: { ...m.params, progressToken: p.clientToken } });
      // Progress belongs on its request's stream. When that stream is over (the POST was abandoned or
      // cancelled), it is dropped: a GET stream carries only messages unrelated to any request.
      p.exchange?.notify(json);
      return;
    }
    if (method === 'notifications/resources/updated') {
      const uri = m.params?.uri;
      const subs = typeof uri === 'string' ? this.subscribers.get(uri) : undefined;
      if (!subs) return;
      const json = JSON.stringify(m);
      for (const s of subs) {
        if (isListen(s)) s.deliver(method, m.params);
        else this.transport.sendToSession(s, json);
      }
      return;
    }
    if (method.endsWith('/list_changed')) {
      this.transport.broadcast(JSON.stringify(m));
      for (const l of this.listeners) l.deliver(method, m.params);
      this.opts.events?.onListChanged?.(method);
      return;
    }
    if (method === 'notifications/message') {
      this.transport.broadcast(JSON.stringify(m));
      for (const l of this.listeners) l.deliver(method, m.params);
      return;
    }
    // notifications/cancelled (for server requests we refused) and unknown kinds stay here.
  }

  // ---- resource subscriptions ----

  /** Handles subscribe/unsubscribe locally when possible; returns false when it must go upstream. */
  private subscription(session: S, req: JsonRpcRequest, exchange: Exchange, uri: string): boolean {
    const mine = (session.data.subs ??= new Set());
    let set = this.subscribers.get(uri);
    if (req.method === 'resources/subscribe') {
      if (mine.has(uri) || (set && set.size > 0)) {
        mine.add(uri);
        set?.add(session);
        exchange.respond(resultResponse(req.id, {}));
        return true;
      }
      mine.add(uri);
      set = new Set<Subscriber>([session]);
      this.subscribers.set(uri, set);
      return false;
    }
    if (!mine.has(uri)) {
      exchange.respond(resultResponse(req.id, {}));
      return true;
    }
    mine.delete(uri);
    set?.delete(session);
    if (set && set.size > 0) {
      exchange.respond(resultResponse(req.id, {}));
      return true;
    }
    this.subscribers.delete(uri);
    return false;
  }

  private dropSubscriber(sub: Subscriber, uri: string): void {
    const set = this.subscribers.get(uri);
    if (!set) return;
    set.delete(sub);
    if (set.size > 0) return;
    this.subscribers.delete(uri);
    if (this.sup.ready && !this.closing) {
      this.internalRequest('resources/unsubscribe', { uri }, this.opts.limits.requestTimeoutMs).catch(() => {});
    }
  }
}
