import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ToolSummary } from '../core/index.js';
import type { ExitInfo } from '../runtime/types.js';
import type { BridgeOptions, ClientIdentity, EndpointStats, SharedBridge, SpawnProcess } from './types.js';
import type { Exchange } from './exchange.js';
import type { Session, SessionEndReason, TransportBackend } from './transport.js';
import type { ListenStream, StatelessBackend, StatelessCall } from './stateless.js';
import { StreamableHttpTransport } from './transport.js';
import { BerthError } from '../core/errors.js';
import type { JsonRpcFailure, JsonRpcId, JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from './jsonrpc.js';
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
} from './jsonrpc.js';
import { isSupportedVersion } from './http.js';
import { Supervisor } from './supervisor.js';
import type { SupervisorOptions } from './supervisor.js';
import type { Upstream } from './upstream.js';
import { DEFAULT_MAX_STDIN_BYTES, describeExit } from './upstream.js';
import { collectTools } from './probe.js';
import { answerFromSnapshot, listsChangedBy, toolSummaries } from './snapshot.js';
import { ScaleKeeper } from './scale.js';
import { Generations } from './swap.js';
import { Subscriptions } from './shared-subs.js';
import type { SharedSession } from './shared-subs.js';

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

/** Create a bridge that multiplexes all client sessions onto one stdio server process. */
export function createSharedBridge(opts: BridgeOptions): SharedBridge {
  return new SharedBridgeImpl(opts);
}

class SharedBridgeImpl implements SharedBridge, TransportBackend<SharedSession>, StatelessBackend {
  private readonly transport: StreamableHttpTransport<SharedSession>;
  /** The process generations: the active one and those draining after a swap. */
  private readonly gens: Generations;
  /** Scale to zero: the server's snapshot and the idle clock. */
  private readonly scale: ScaleKeeper;
  private readonly pending = new Map<number, Pending>();
  private readonly subs: Subscriptions;
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
    const timeout = opts.limits.requestTimeoutMs;
    this.subs = new Subscriptions({
      ready: () => this.sup.ready && !this.closing,
      wake: () => this.run(this.sup),
      request: (method, params) => this.internalRequest(method, params, timeout),
      sendToSession: (session, json) => this.transport.sendToSession(session, json),
      none: () => this.scale.arm(),
      log: (line) => this.log(line),
    });
    this.scale = new ScaleKeeper(opts.scale, opts.events, {
      busy: () => this.gens.swapping || this.pending.size > 0 || this.subs.size > 0,
      running: () => this.sup.ready,
      serving: () => !this.closing && this.sup.state !== 'gaveup' && this.sup.state !== 'closed',
      sleep: () => this.sup.sleep(opts.timing?.stopGraceMs),
      initResult: () => this.sup.initResult,
      request: (method, params) => this.internalRequest(method, params, timeout),
      announce: (method) => this.announce(method),
      log: (line) => this.log(line),
    });
    this.gens = new Generations(
      {
        supervisor: (o) => this.supervisor(o),
        request: (sup) => (method, params) => this.internalRequest(method, params, timeout, sup),
        closing: () => this.closing,
        fail: (sup, message) => this.failAll(UPSTREAM_UNAVAILABLE, message, sup),
        moveUnsent: (old, cand) => this.moveUnsent(old, cand),
        resubscribe: (sup) => this.subs.resubscribe((method, params) => this.internalRequest(method, params, timeout, sup), 'on the new process: subscribe'),
        scale: this.scale,
        announce: (method) => this.announce(method),
        log: (line) => this.log(line),
      },
      opts.timing?.stopGraceMs,
    );
  }

  /** The generation new requests go to. */
  private get sup(): Supervisor {
    return this.gens.active;
  }

  private log(line: string): void {
    this.opts.log?.(`bridge ${this.opts.deploymentId}: ${line}`);
  }

  private supervisor(o: SupervisorOptions): Supervisor {
    const sup: Supervisor = new Supervisor(
      this.opts,
      {
        onMessage: (m, up) => this.onUpstream(m, sup, up),
        onReady: () => this.onReady(sup),
        onExit: (up, exit) => this.onExit(sup, up, exit),
        onGaveUp: (reason) => this.failAll(UPSTREAM_UNAVAILABLE, `MCP server unavailable: ${reason}`, sup),
        onSlept: (waking) => {
          if (sup === this.sup) this.scale.slept(waking);
        },
      },
      o,
    );
    return sup;
  }

  start(): Promise<void> {
    if (this.scale.startsAsleep) {
      // Scaled to zero from the start: the snapshot answers until a request needs the server.
      this.scale.asleep = true;
      return Promise.resolve();
    }
    return this.sup.start();
  }

  swap(spawn: SpawnProcess, opts: { drainMs?: number } = {}): Promise<{ tools: ToolSummary[] }> {
    return this.gens.swap(spawn, opts.drainMs ?? this.opts.limits.requestTimeoutMs);
  }

  handle(req: IncomingMessage, res: ServerResponse, body: Buffer, client?: ClientIdentity): Promise<void> {
    return this.transport.handle(req, res, body, client);
  }

  handleLegacy(req: IncomingMessage, res: ServerResponse, body: Buffer, kind: 'sse' | 'message', basePath: string, client?: ClientIdentity): Promise<void> {
    return this.transport.handleLegacy(req, res, body, kind, basePath, client);
  }

  async probe(timeoutMs: number): Promise<{ tools: ToolSummary[] }> {
    // An idle server is not woken by health probes: its snapshot says what it lists.
    const snap = this.scale.idleSnapshot();
    if (snap?.tools) return { tools: toolSummaries(snap.tools) };
    const deadline = Date.now() + timeoutMs;
    const tools = await collectTools(async (params) => {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('probe timed out');
      return this.internalRequest('tools/list', params, left);
    });
    return { tools };
  }

  stats(): EndpointStats {
    const processes = this.gens.processes();
    return { sessions: this.transport.sessions.size, processes, inFlight: this.pending.size, lastRequestAt: this.scale.lastRequestAt, idleAt: this.scale.idleAt() };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.scale.close();
    this.failAll(UPSTREAM_UNAVAILABLE, 'The endpoint is closing');
    this.transport.close();
    await this.gens.close();
  }

  // ---- TransportBackend ----

  newSessionData(): SharedSession {
    return { subs: null };
  }

  async initialize(_session: S, req: JsonRpcRequest): Promise<JsonRpcResponse> {
    this.noteRequest(req.method);
    let cached = this.scale.idleSnapshot()?.initialize;
    if (!cached) {
      try {
        this.run(this.sup);
        await this.sup.waitReady(this.opts.limits.requestTimeoutMs);
      } catch (err) {
        throw new BerthError('UPSTREAM_UNAVAILABLE', `MCP server unavailable: ${err instanceof Error ? err.message : String(err)}`);
      }
      cached = this.sup.initResult ?? {};
    }
    const upstreamVersion = String(cached.protocolVersion ?? '');
    const asked = req.params?.protocolVersion;
    const version = isSupportedVersion(asked) && (asked as string) <= upstreamVersion ? (asked as string) : upstreamVersion;
    return resultResponse(req.id, { ...cached, protocolVersion: version });
  }

  request(session: S, req: JsonRpcRequest, exchange: Exchange): void {
    this.noteRequest(req.method);
    const snap = this.scale.idleSnapshot();
    const local = snap ? answerFromSnapshot(snap, req) : null;
    if (local) {
      exchange.respond(resultResponse(req.id, local));
      return;
    }
    if (req.method === 'resources/subscribe' || req.method === 'resources/unsubscribe') {
      const uri = req.params?.uri;
      if (typeof uri === 'string' && this.subs.local(session, req, exchange, uri)) return;
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
      if (p.json === null) p.up?.send({ ...msg, params: { ...msg.params, requestId: uid } });
      p.exchange?.abandon();
      return;
    }
  }

  response(_session: S, _msg: JsonRpcResponse): void {
    // Shared mode never forwards server requests to clients, so client responses have no target.
  }

  sessionEnded(session: S, _reason: SessionEndReason): void {
    this.subs.sessionEnded(session);
    for (const [uid, p] of this.pending) {
      if (p.session !== session) continue;
      this.remove(uid, p);
      if (p.json === null) this.sendCancel(uid, p, 'session ended');
    }
  }

  // ---- StatelessBackend (revision 2026-07-28) ----

  async initResult(): Promise<Record<string, unknown>> {
    const snap = this.scale.idleSnapshot();
    if (snap) return snap.initialize;
    this.run(this.sup);
    await this.sup.waitReady(this.opts.limits.requestTimeoutMs);
    return this.sup.initResult ?? {};
  }

  cachedInit(): Record<string, unknown> | null {
    return this.sup.initResult ?? this.scale.snapshot?.initialize ?? null;
  }

  statelessRequest(call: StatelessCall): void {
    const session = this.transport.newSession('stateless');
    call.cancel = () => {
      this.notification(session, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.req.id, reason: 'client cancelled' } });
    };
    this.request(session, call.req, call.exchange);
  }

  listen(stream: ListenStream): Promise<void> {
    return this.subs.listen(stream);
  }

  unlisten(stream: ListenStream): void {
    this.subs.unlisten(stream);
  }

  // ---- requests upstream ----

  private forward(session: S | null, exchange: Exchange | null, req: JsonRpcRequest, internal: Pending['internal'] = null, target?: Supervisor): void {
    const sup = target ?? this.sup;
    const state = sup.state;
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
    const up = sup.ready ? sup.up : null;
    const busy = up?.backlogged ? up.busyError(req.id) : !up && this.queued > 0 && this.queued + json.length > this.maxQueued ? this.queueFull(req.id) : null;
    if (busy) {
      if (internal) internal(new Error(busy.error.message));
      else exchange?.respond(busy);
      return;
    }
    const timer = setTimeout(() => this.timedOut(uid), this.opts.limits.requestTimeoutMs);
    const p: Pending = { session, exchange, clientId: req.id, clientToken, json, timer, internal, sup, up: null };
    this.pending.set(uid, p);
    this.gens.count(sup, 1);
    this.queued += json.length;
    if (!internal) this.scale.noteActive();
    if (sup.ready) this.write(uid, p);
    else this.run(sup);
  }

  /** Start `sup`'s process if none runs; an idle bridge woken by it says so (onWake). */
  private run(sup: Supervisor): void {
    if (sup.ensureRunning() && sup === this.sup) this.scale.woke();
  }

  private noteRequest(method: string): void {
    this.scale.noteRequest();
    this.opts.events?.onClientRequest?.(method);
  }

  /** A listing changed: every session (GET stream) and listen stream hears it, and control (onListChanged). */
  private announce(method: string, params?: Record<string, unknown>): void {
    this.transport.broadcast(JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }));
    for (const l of this.subs.listeners) l.deliver(method, params);
    this.opts.events?.onListChanged?.(method);
  }

  /** After a swap: requests still waiting to be written go to the new process. */
  private moveUnsent(old: Supervisor, cand: Supervisor): void {
    for (const [uid, p] of this.pending) {
      if (p.sup !== old || p.json === null) continue;
      this.gens.count(old, -1);
      this.gens.count(cand, 1);
      p.sup = cand;
      this.write(uid, p);
    }
  }

  /** Write a pending request to the process; a server that does not read its stdin gets no more (UPSTREAM_BUSY). */
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
    this.gens.count(p.sup, -1);
    if (!p.internal) this.scale.noteActive();
    if (this.pending.size === 0) this.scale.arm();
  }

  /** The answer to a request that does not fit the queue of requests waiting for the process to start. */
  private queueFull(id: JsonRpcId): JsonRpcFailure {
    const message = `MCP server busy: it is not ready, and ${this.queued} bytes of requests already wait for it (limit ${this.maxQueued}, BERTH_STDIN_BUFFER_BYTES); retry shortly`;
    return errorResponse(id, UPSTREAM_BUSY, message, { code: 'UPSTREAM_BUSY', waitingBytes: this.queued, maxStdinBytes: this.maxQueued });
  }

  private internalRequest(method: string, params: Record<string, unknown>, timeoutMs: number, target?: Supervisor): Promise<Record<string, unknown>> {
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

  private sendCancel(uid: number, p: Pending, reason: string): void {
    p.up?.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: uid, reason } });
  }

  private timedOut(uid: number): void {
    const p = this.pending.get(uid);
    if (!p) return;
    this.remove(uid, p);
    if (p.json === null) this.sendCancel(uid, p, 'request timed out');
    const ms = this.opts.limits.requestTimeoutMs;
    this.reply(p, errorResponse(p.clientId, REQUEST_TIMEOUT, `Request timed out: the MCP server gave no answer within ${ms} ms`));
  }

  private reply(p: Pending, msg: JsonRpcResponse): void {
    if (p.internal) p.internal('error' in msg ? new Error(msg.error.message) : msg);
    else p.exchange?.respond(msg);
  }

  private onReady(sup: Supervisor): void {
    if (sup === this.sup) {
      this.scale.woke();
      void this.subs.resubscribe((method, params) => this.internalRequest(method, params, this.opts.limits.requestTimeoutMs));
    }
    for (const [uid, p] of this.pending) if (p.sup === sup) this.write(uid, p);
    if (sup === this.sup) this.scale.ready();
  }

  private onExit(sup: Supervisor, up: Upstream, exit: ExitInfo): void {
    this.failSent(up, exit);
    this.gens.exited(sup);
  }

  /** A process exited: requests already written to it will never be answered. */
  private failSent(up: Upstream, exit: ExitInfo): void {
    const why = describeExit(exit);
    const data = { exitCode: exit.code, signal: exit.signal };
    for (const [uid, p] of this.pending) {
      if (p.json !== null || p.up !== up) continue;
      this.remove(uid, p);
      this.reply(p, errorResponse(p.clientId, UPSTREAM_EXITED, `MCP server process exited (${why}) before answering`, data));
    }
  }

  /** Fail every pending request (of one generation, when `sup` is given). */
  private failAll(code: number, message: string, sup?: Supervisor): void {
    for (const [uid, p] of this.pending) {
      if (sup && p.sup !== sup) continue;
      this.remove(uid, p);
      this.reply(p, errorResponse(p.clientId, code, message));
    }
  }

  // ---- messages from upstream ----

  private onUpstream(m: JsonRpcMessage, sup: Supervisor, up: Upstream): void {
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
      this.serverRequest(m, up);
      return;
    }
    // A swapped-out process still finishes its requests (progress, logs), but speaks no more for the server.
    if (sup !== this.sup && (m.method === 'notifications/resources/updated' || m.method.endsWith('/list_changed'))) return;
    this.serverNotification(m);
  }

  private serverRequest(m: JsonRpcRequest, up: Upstream): void {
    if (m.method === 'ping') {
      up.send(resultResponse(m.id, {}));
      return;
    }
    if (!this.refused.has(m.method)) {
      const reason = `server sent ${m.method}; shared mode cannot route server requests, run the deployment in isolated mode`;
      if (this.refused.size === 0) this.opts.events?.onNeedsIsolation?.(reason);
      this.refused.add(m.method);
      this.opts.log?.(`bridge ${this.opts.deploymentId}: ${reason}`);
    }
    const msg = `${m.method} is not available: this deployment runs in shared mode; run it in isolated mode for server-to-client requests`;
    up.send(errorResponse(m.id, METHOD_NOT_FOUND, msg));
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
      this.subs.updated(m);
      return;
    }
    if (method.endsWith('/list_changed')) {
      this.announce(method, m.params);
      const lists = listsChangedBy(method);
      if (lists.length > 0 && this.scale.snapshot) this.scale.refresh(lists, false);
      return;
    }
    if (method === 'notifications/message') {
      this.transport.broadcast(JSON.stringify(m));
      for (const l of this.subs.listeners) l.deliver(method, m.params);
      return;
    }
    // notifications/cancelled (for server requests we refused) and unknown kinds stay here.
  }
}
