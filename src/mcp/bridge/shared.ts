import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ToolSummary } from '../../core/index.js';
import type { ExitInfo } from '../../core/process.js';
import type { BridgeOptions, ClientIdentity, EndpointStats, SharedBridge, SpawnProcess } from '../types.js';
import type { Exchange } from '../front/exchange.js';
import type { Session, SessionEndReason, TransportBackend } from '../front/transport.js';
import type { ListenStream, StatelessBackend, StatelessCall } from '../front/stateless.js';
import { StreamableHttpTransport } from '../front/transport.js';
import { BerthError } from '../../core/errors.js';
import type { JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';
import { UPSTREAM_UNAVAILABLE, isObject, isRequest, isResponse, resultResponse } from '../wire/jsonrpc.js';
import { isSupportedVersion } from '../wire/http.js';
import { Supervisor } from './supervisor.js';
import type { SupervisorOptions } from './supervisor.js';
import type { Upstream } from './upstream.js';
import { DEFAULT_MAX_STDIN_BYTES } from './upstream.js';
import { collectTools } from './probe.js';
import { answerFromSnapshot, listsChangedBy, toolSummaries } from './snapshot.js';
import { ScaleKeeper } from './scale.js';
import { Generations } from './swap.js';
import { Subscriptions } from './shared-subs.js';
import { RequestTable } from './shared-requests.js';
import { ServerAsks } from './shared-asks.js';
import { InputRequests } from '../front/mrtr.js';
import type { Refusal } from './shared-asks.js';
import type { SharedSession } from './shared-subs.js';

type S = Session<SharedSession>;

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
  private readonly requests: RequestTable;
  private readonly subs: Subscriptions;
  /** Server→client requests on their way to the one certain client. */
  private readonly asks: ServerAsks;
  /** Stateless calls waiting for the client's retry with the answers to their server's requests. */
  private readonly mrtr: InputRequests<S>;
  private readonly refused = new Set<string>();
  readonly listenSupport = { listChanged: true, resources: true };
  private closing = false;

  constructor(private readonly opts: BridgeOptions) {
    this.transport = new StreamableHttpTransport(this, {
      limits: opts.limits,
      sseAfterMs: opts.timing?.sseAfterMs,
      keepaliveMs: opts.timing?.keepaliveMs,
      log: opts.log,
      stateless: this,
    });
    const timeout = opts.limits.requestTimeoutMs;
    this.requests = new RequestTable({
      active: () => this.sup,
      closing: () => this.closing,
      run: (sup) => this.run(sup),
      count: (sup, delta) => this.gens.count(sup, delta),
      ended: (client, empty) => {
        if (client) this.scale.noteActive();
        if (empty) this.scale.arm();
      },
      requestTimeoutMs: timeout,
      // Requests waiting for a (re)starting process are bounded like the process's own stdin.
      maxQueued: opts.maxStdinBytes ?? DEFAULT_MAX_STDIN_BYTES,
    });
    this.asks = new ServerAsks({
      callers: (up) => this.requests.callers(up),
      sendToSession: (session, json) => this.transport.sendToSession(session, json),
      refused: (method, why) => this.refusedAsk(method, why),
      stateless: (session, m) => this.mrtr.serverRequest(session, m),
      timeoutMs: timeout,
      routing: opts.clientFeatures !== false,
    });
    this.mrtr = new InputRequests<S>(
      {
        rebind: (session, exchange, replyId, token) => this.requests.rebind(session, exchange, replyId, token),
        deliver: (_session, held) => {
          for (const m of held) this.serverNotification(m);
        },
        send: (session, msg) => this.requests.upOf(session)?.send(msg),
        expire: (session) => this.endStateless(session),
        log: (line) => this.log(line),
      },
      opts.timing?.inputRequiredTimeoutMs ?? timeout,
    );
    this.subs = new Subscriptions({
      ready: () => this.sup.ready && !this.closing,
      wake: () => this.run(this.sup),
      request: (method, params) => this.requests.request(method, params, timeout),
      sendToSession: (session, json) => this.transport.sendToSession(session, json),
      none: () => this.scale.arm(),
      log: (line) => this.log(line),
    });
    this.scale = new ScaleKeeper(opts.scale, opts.events, {
      busy: () => this.gens.swapping || this.requests.size > 0 || this.subs.size > 0,
      running: () => this.sup.ready,
      serving: () => !this.closing && this.sup.state !== 'gaveup' && this.sup.state !== 'closed',
      sleep: () => this.sup.sleep(opts.timing?.stopGraceMs),
      initResult: () => this.sup.initResult,
      request: (method, params) => this.requests.request(method, params, timeout),
      announce: (method) => this.announce(method),
      log: (line) => this.log(line),
    });
    this.gens = new Generations(
      {
        supervisor: (o) => this.supervisor(o),
        request: (sup) => (method, params) => this.requests.request(method, params, timeout, sup),
        closing: () => this.closing,
        fail: (sup, message) => this.requests.failAll(UPSTREAM_UNAVAILABLE, message, sup),
        moveUnsent: (old, cand) => this.requests.moveUnsent(old, cand),
        resubscribe: (sup) => this.subs.resubscribe((method, params) => this.requests.request(method, params, timeout, sup), 'on the new process: subscribe'),
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
        onGaveUp: (reason) => this.requests.failAll(UPSTREAM_UNAVAILABLE, `MCP server unavailable: ${reason}`, sup),
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
      return this.requests.request('tools/list', params, left);
    });
    return { tools };
  }

  stats(): EndpointStats {
    const processes = this.gens.processes();
    return { sessions: this.transport.sessions.size, processes, inFlight: this.requests.size, lastRequestAt: this.scale.lastRequestAt, idleAt: this.scale.idleAt() };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.scale.close();
    this.requests.failAll(UPSTREAM_UNAVAILABLE, 'The endpoint is closing');
    this.asks.close();
    this.mrtr.close();
    this.transport.close();
    await this.gens.close();
  }

  // ---- TransportBackend ----

  newSessionData(): SharedSession {
    return { subs: null, caps: null, mrtr: null };
  }

  async initialize(session: S, req: JsonRpcRequest): Promise<JsonRpcResponse> {
    this.noteRequest(req.method);
    const caps = req.params?.capabilities;
    session.data.caps = isObject(caps) ? caps : {};
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
    this.requests.forward(session, exchange, req);
  }

  notification(session: S, msg: JsonRpcNotification): void {
    // initialized is answered by our own handshake; roots/progress have no shared meaning.
    if (msg.method === 'notifications/cancelled') this.requests.cancel(session, msg);
  }

  response(session: S, msg: JsonRpcResponse): void {
    this.asks.answer(session, msg);
  }

  sessionEnded(session: S, _reason: SessionEndReason): void {
    this.subs.sessionEnded(session);
    this.requests.sessionEnded(session);
    this.asks.sessionEnded(session);
    this.mrtr.forget(session);
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
    if (typeof call.raw.params?.requestState === 'string') {
      this.mrtr.resume(call);
      return;
    }
    const session = this.transport.newSession('stateless');
    session.data.caps = call.env.capabilities;
    this.mrtr.begin(session, call);
    call.cancel = () => {
      this.notification(session, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.req.id, reason: 'client cancelled' } });
      this.endStateless(session);
    };
    call.done = () => {
      if (!this.mrtr.isParked(session)) this.endStateless(session);
    };
    this.request(session, call.req, call.exchange);
  }

  /** A stateless call is over (answered, cancelled, or its retry never came): nothing of it stays. */
  private endStateless(session: S): void {
    if (session.ended) return;
    session.ended = true;
    this.sessionEnded(session, 'closed');
  }

  listen(stream: ListenStream): Promise<void> {
    return this.subs.listen(stream);
  }

  unlisten(stream: ListenStream): void {
    this.subs.unlisten(stream);
  }

  // ---- requests upstream ----

  /** Start `sup`'s process if none runs; an idle bridge woken by it says so (onWake). */
  private run(sup: Supervisor): void {
    if (sup.ensureRunning() && sup === this.sup) this.scale.woke();
  }

  /** A client request came: it counts for the idle clock and the request counter. */
  private noteRequest(method: string): void {
    this.scale.noteRequest();
    this.scale.noteActive();
    this.opts.events?.onClientRequest?.(method);
  }

  /** A listing changed: every session (GET stream) and listen stream hears it, and control (onListChanged). */
  private announce(method: string, params?: Record<string, unknown>): void {
    this.transport.broadcast(JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params }));
    for (const l of this.subs.listeners) l.deliver(method, params);
    this.opts.events?.onListChanged?.(method);
  }

  private onReady(sup: Supervisor): void {
    if (sup === this.sup) {
      this.scale.woke();
      void this.subs.resubscribe((method, params) => this.requests.request(method, params, this.opts.limits.requestTimeoutMs));
    }
    this.requests.writeWaiting(sup);
    if (sup === this.sup) this.scale.ready();
  }

  private onExit(sup: Supervisor, up: Upstream, exit: ExitInfo): void {
    this.requests.failSent(up, exit);
    this.asks.exited(up);
    this.gens.exited(sup);
  }

  // ---- messages from upstream ----

  private onUpstream(m: JsonRpcMessage, sup: Supervisor, up: Upstream): void {
    if (isResponse(m)) {
      this.requests.answer(m);
      return;
    }
    if (isRequest(m)) {
      if (m.method === 'ping') up.send(resultResponse(m.id, {}));
      else this.asks.ask(m, up);
      return;
    }
    if (m.method === 'notifications/cancelled' && this.asks.cancelled(m, up)) return;
    // A swapped-out process still finishes its requests (progress, logs), but speaks no more for the server.
    if (sup !== this.sup && (m.method === 'notifications/resources/updated' || m.method.endsWith('/list_changed'))) return;
    this.serverNotification(m);
  }

  /** A server request shared mode could not route: logged once per method; status says when isolating would help. */
  private refusedAsk(method: string, why: Refusal): void {
    if (!why.isolate || this.refused.has(method)) return;
    const reason = `server sent ${method}; ${why.message}`;
    if (this.refused.size === 0) this.opts.events?.onNeedsIsolation?.(reason);
    this.refused.add(method);
    this.log(reason);
  }

  private serverNotification(m: JsonRpcNotification): void {
    const method = m.method;
    if (method === 'notifications/progress') {
      // A GET stream carries only messages unrelated to any request: progress goes with its request, and a
      // stateless call's progress waits for its retry while the call is parked.
      const session = this.requests.sessionOf(m.params?.progressToken);
      if (session && this.mrtr.isParked(session) && this.mrtr.hold(session, m, JSON.stringify(m).length)) return;
      this.requests.progress(m);
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
    // notifications/cancelled of server requests we refused, and unknown kinds, stay here.
  }
}
