import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ToolSummary } from '../../core/index.js';
import type { ClientIdentity, EndpointStats, IsolatedBridge, IsolatedBridgeOptions } from '../types.js';
import type { Exchange } from '../front/exchange.js';
import type { SessionEndReason, TransportBackend } from '../front/transport.js';
import type { ListenStream, StatelessBackend, StatelessCall } from '../front/stateless.js';
import { InputRequests } from '../front/mrtr.js';
import { initializeFor } from '../wire/modern.js';
import { StreamableHttpTransport } from '../front/transport.js';
import { BerthError } from '../../core/errors.js';
import type { ExitInfo } from '../../core/process.js';
import type { JsonRpcErrorObject, JsonRpcId, JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../wire/jsonrpc.js';
import {
  METHOD_NOT_FOUND,
  UPSTREAM_EXITED,
  errorResponse,
  idKey,
  isObject,
  isRequest,
  isResponse,
  resultResponse,
} from '../wire/jsonrpc.js';
import { LATEST_PROTOCOL_VERSION, rpcCodeFor } from '../wire/http.js';
import { describeExit } from './upstream.js';
import { IsolatedRevisions } from './isolated-revisions.js';
export { DEFAULT_DRAIN_MS } from './isolated-revisions.js';
import { PRIME_CAPABILITIES, PRIME_VERSION, capabilitiesWithin, undeclaredFeature } from './prime.js';
import type { IsoProc, IsoSession, S } from './isolated-pool.js';



/** How long a cancelled stateless call's process may take to see the cancellation before it is stopped. */
const CANCEL_GRACE_MS = 250;

/** Create a bridge that gives each client session its own process, from a warm pool. */
export function createIsolatedBridge(opts: IsolatedBridgeOptions): IsolatedBridge {
  return new IsolatedBridgeImpl(opts);
}

class IsolatedBridgeImpl extends IsolatedRevisions implements IsolatedBridge, TransportBackend<IsoSession>, StatelessBackend {
  private readonly transport: StreamableHttpTransport<IsoSession>;
  private readonly mrtr: InputRequests<S>;
  /** A listen stream gets a process of its own for its lifetime (see listen()). */
  readonly listenSupport = { listChanged: true, resources: true };
  private readonly listening = new Map<ListenStream, S>();

  constructor(opts: IsolatedBridgeOptions) {
    super(opts);
    this.cached = opts.scale?.snapshot?.initialize ?? null;
    this.transport = new StreamableHttpTransport(this, {
      limits: opts.limits,
      sseAfterMs: opts.timing?.sseAfterMs,
      keepaliveMs: opts.timing?.keepaliveMs,
      log: opts.log,
      stateless: this,
    });
    this.mrtr = new InputRequests<S>(
      {
        rebind: (session, exchange, replyId, token) => this.rebind(session, exchange, replyId, token),
        deliver: (session, held) => {
          const proc = session.data.proc;
          if (proc) for (const m of held) this.onUpstream(proc, m);
        },
        send: (session, msg) => session.data.proc?.up.send(msg),
        expire: (session) => this.endStateless(session),
        log: opts.log,
      },
      opts.timing?.inputRequiredTimeoutMs ?? opts.limits.requestTimeoutMs,
    );
  }

  async start(): Promise<void> {
    if (!(await this.fillFloor())) throw new Error('could not fill the warm pool: a process failed to start or to answer initialize');
  }

  handle(req: IncomingMessage, res: ServerResponse, body: Buffer, client?: ClientIdentity): Promise<void> {
    return this.transport.handle(req, res, body, client);
  }

  handleLegacy(req: IncomingMessage, res: ServerResponse, body: Buffer, kind: 'sse' | 'message', basePath: string, client?: ClientIdentity): Promise<void> {
    return this.transport.handleLegacy(req, res, body, kind, basePath, client);
  }

  async probe(timeoutMs: number): Promise<{ tools: ToolSummary[] }> {
    const { init, tools } = await this.check(this.spawnFn, timeoutMs);
    this.cached = init;
    return { tools };
  }

  /** A session (call, listen stream) still on an older revision when its drain time ran out. */
  protected endDrained(session: S, error: JsonRpcErrorObject): void {
    const stream = session.data.listen;
    if (stream) {
      stream.fail(error);
      this.unlisten(stream);
    } else if (session.kind === 'stateless') this.endStateless(session);
    else this.transport.endSession(session, 'drained');
  }

  stats(): EndpointStats {
    let inFlight = 0;
    for (const p of this.active) inFlight += p.pending.size;
    const processes = this.processCount() - this.coldSpawning + this.probes.size;
    return { sessions: this.transport.sessions.size, processes, inFlight, lastRequestAt: this.lastRequestAt, idleAt: this.idleAt() };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.stopDrains();
    this.mrtr.close();
    this.transport.close();
    this.closePool();
    await this.poolSettled();
  }

  // ---- TransportBackend ----

  newSessionData(): IsoSession {
    return { proc: null, mrtr: null, listen: null };
  }

  /**
   * A session's (or stateless call's, or listen stream's) process. When the client asks for PRIME_VERSION and
   * declares no more than PRIME_CAPABILITIES, its initialize is answered at once from a pool process's primed
   * handshake (with an empty pool: from the next pool process that is ready); otherwise a cold process gets the
   * client's own initialize.
   */
  async initialize(session: S, req: JsonRpcRequest, owner: ClientIdentity | null = session.owner): Promise<JsonRpcResponse> {
    this.admit();
    const caps = isObject(req.params?.capabilities) ? req.params.capabilities : {};
    const fits = !this.priming || (req.params?.protocolVersion === PRIME_VERSION && capabilitiesWithin(caps, PRIME_CAPABILITIES));
    let proc: IsoProc;
    try {
      proc = await this.acquire(fits);
    } catch (err) {
      this.armIdle();
      throw err;
    }
    if (session.ended || this.closing) {
      // The client went away (or the endpoint closes) while its process started.
      this.stopProc(proc);
      this.refill();
      this.armIdle();
      throw new BerthError('UPSTREAM_UNAVAILABLE', 'The session ended before its MCP server process was ready');
    }
    proc.role = 'session';
    proc.session = session;
    proc.clientCaps = caps;
    session.data.proc = proc;
    this.opts.events?.onBound?.(proc.up.instanceKey, owner);
    this.active.add(proc);
    this.handshakeStarted(proc);
    this.refill();
    if (session.ended || this.closing) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closing');
    this.opts.events?.onClientRequest?.(req.method);
    const primed = proc.primed;
    const answer = primed
      ? resultResponse(req.id, { ...primed })
      : await new Promise<JsonRpcResponse>((resolve, reject) => {
          // A cold process: its answer includes the server's start-up, so the handshake limit applies.
          this.send(proc, req, null, (msg) => (msg instanceof Error ? reject(new BerthError('UPSTREAM_FAILED', msg.message)) : resolve(msg)), this.handshakeLimitMs());
        });
    if (!('error' in answer) && proc.up.alive) {
      if (proc.gen === this.gen && typeof answer.result === 'object' && answer.result !== null) this.cached = answer.result as Record<string, unknown>;
      this.opts.events?.onProcessReady?.({ pid: proc.up.pid, instanceKey: proc.up.instanceKey });
    }
    return answer;
  }

  request(session: S, req: JsonRpcRequest, exchange: Exchange): void {
    this.opts.events?.onClientRequest?.(req.method);
    this.touched();
    const proc = session.data.proc;
    if (!proc || !proc.up.alive) {
      exchange.respond(errorResponse(req.id, UPSTREAM_EXITED, 'MCP server process for this session has exited'));
      return;
    }
    this.send(proc, req, exchange, null);
  }

  notification(session: S, msg: JsonRpcNotification): void {
    const proc = session.data.proc;
    if (!proc) return;
    if (msg.method === 'notifications/initialized') this.handshakeSettled(proc);
    if (msg.method === 'notifications/cancelled') {
      const rid = msg.params?.requestId;
      const key = typeof rid === 'string' || typeof rid === 'number' ? idKey(rid) : undefined;
      const p = key === undefined ? undefined : proc.pending.get(key);
      if (p && key !== undefined) {
        proc.pending.delete(key);
        clearTimeout(p.timer);
        p.exchange?.abandon();
      }
    }
    proc.up.send(msg);
  }

  response(session: S, msg: JsonRpcResponse): void {
    session.data.proc?.up.send(msg);
  }

  sessionEnded(session: S, _reason: SessionEndReason): void {
    this.mrtr.forget(session);
    const proc = session.data.proc;
    session.data.proc = null;
    if (!proc) return;
    proc.session = null;
    this.failPending(proc, null);
    this.stopProc(proc);
    this.refill();
    this.armIdle();
  }

  // ---- StatelessBackend (revision 2026-07-28): a process per call, from the warm pool ----

  async initResult(): Promise<Record<string, unknown>> {
    if (this.cached) return this.cached;
    const proc = await this.spawnProc('probe');
    try {
      return await this.internal(proc, 'initialize', this.ownInitParams(), this.handshakeLimitMs());
    } finally {
      this.stopProc(proc);
    }
  }

  cachedInit(): Record<string, unknown> | null {
    return this.cached;
  }

  statelessRequest(call: StatelessCall): void {
    if (typeof call.raw.params?.requestState === 'string') this.mrtr.resume(call);
    else void this.startStateless(call);
  }

  /**
   * A listen stream gets its own process for its lifetime (counted against `isolated.max`), initialized with
   * the listening client's envelope capabilities; its list_changed, `resources/updated` (subscribed upstream
   * for the filter's uris) and logging notifications go to the stream. A filter with nothing honoured needs
   * no process. The process stops when the stream closes; the stream ends with an error if the process exits.
   */
  async listen(stream: ListenStream): Promise<void> {
    const f = stream.filter;
    if (!f.toolsListChanged && !f.promptsListChanged && !f.resourcesListChanged && !f.resourceSubscriptions?.length) return;
    const session = this.transport.newSession('stateless');
    session.data.listen = stream;
    this.listening.set(stream, session);
    const answer = await this.initialize(session, initializeFor(stream.env, `berth-init-${++this.seq}`, LATEST_PROTOCOL_VERSION), stream.client ?? null);
    if ('error' in answer) throw new BerthError('UPSTREAM_FAILED', `initialize failed: ${answer.error.message}`);
    const proc = session.data.proc;
    if (session.ended || !proc) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The listen stream ended');
    proc.up.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.handshakeSettled(proc);
    const timeout = this.opts.limits.requestTimeoutMs;
    const level = stream.env.logLevel;
    const serverCaps = isObject(answer.result) && isObject(answer.result.capabilities) ? answer.result.capabilities : {};
    const setup: Promise<unknown>[] = (f.resourceSubscriptions ?? []).map((uri) =>
      this.internal(proc, 'resources/subscribe', { uri }, timeout).catch((err: Error) =>
        this.opts.log?.(`bridge ${this.opts.deploymentId}: subscribe ${uri} for a listen stream failed: ${err.message}`),
      ),
    );
    if (level !== undefined && serverCaps.logging !== undefined) setup.push(this.internal(proc, 'logging/setLevel', { level }, timeout).catch(() => {}));
    await Promise.all(setup);
    if (session.ended) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The listen stream ended');
  }

  unlisten(stream: ListenStream): void {
    const session = this.listening.get(stream);
    if (!session) return;
    this.listening.delete(stream);
    this.endStateless(session);
  }

  private async startStateless(call: StatelessCall): Promise<void> {
    const session = this.transport.newSession('stateless');
    this.mrtr.begin(session, call);
    call.cancel = () => {
      // Tell the server first (its handler may clean up), then stop the call's process shortly after.
      this.notification(session, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: call.req.id, reason: 'client cancelled' } });
      setTimeout(() => this.endStateless(session), CANCEL_GRACE_MS).unref();
    };
    call.done = () => {
      if (!this.mrtr.isParked(session)) this.endStateless(session);
    };
    let answer: JsonRpcResponse;
    try {
      answer = await this.initialize(session, initializeFor(call.env, `berth-init-${++this.seq}`, LATEST_PROTOCOL_VERSION), call.client ?? null);
    } catch (err) {
      const e = err instanceof BerthError ? err : new BerthError('UPSTREAM_FAILED', err instanceof Error ? err.message : String(err));
      call.exchange.respond(errorResponse(call.req.id, rpcCodeFor(e.code), e.message));
      return;
    }
    if ('error' in answer) {
      call.exchange.respond(errorResponse(call.req.id, answer.error.code, `initialize failed: ${answer.error.message}`, answer.error.data));
      return;
    }
    const proc = session.data.proc;
    if (session.ended || !proc) return;
    proc.up.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.handshakeSettled(proc);
    this.request(session, call.req, call.exchange);
  }

  private endStateless(session: S): void {
    if (session.ended) return;
    session.ended = true;
    this.sessionEnded(session, 'closed');
  }

  /** Multi round-trip: the pending upstream request now answers on `exchange` as `replyId` (null: parked, no timeout). */
  private rebind(session: S, exchange: Exchange | null, replyId: JsonRpcId, token?: string | number): void {
    const proc = session.data.proc;
    const st = session.data.mrtr;
    if (!proc || !st) return;
    for (const [key, p] of proc.pending) {
      if (p.internal) continue;
      p.exchange = exchange;
      p.replyId = replyId;
      if (token !== undefined) p.replyToken = token;
      clearTimeout(p.timer);
      if (exchange) p.timer = setTimeout(() => this.timedOut(proc, key, p.req), this.opts.limits.requestTimeoutMs);
    }
  }


  protected override primedResult(result: Record<string, unknown>): void {
    this.cached ??= result;
  }

  protected sessionProcessExited(session: S, exit: ExitInfo): void {
    const stream = session.data.listen;
    if (stream) {
      stream.fail({ code: UPSTREAM_EXITED, message: `MCP server process exited (${describeExit(exit)}); the listen stream ended`, data: { exitCode: exit.code, signal: exit.signal } });
      this.unlisten(stream);
      return;
    }
    this.transport.endSession(session, 'upstream-exit');
  }

  /** A server→client request for a client feature the bound client did not declare (a primed process may ask). */
  private undeclared(proc: IsoProc, m: JsonRpcRequest): boolean {
    const feature = proc.clientCaps === null ? undefined : undeclaredFeature(m.method, proc.clientCaps);
    if (feature === undefined) return false;
    proc.up.send(errorResponse(m.id, METHOD_NOT_FOUND, `${m.method} is not available: the client did not declare the ${feature} capability`));
    return true;
  }

  protected onUpstream(proc: IsoProc, m: JsonRpcMessage): void {
    if (isResponse(m)) {
      const key = m.id === null ? undefined : idKey(m.id);
      const p = key === undefined ? undefined : proc.pending.get(key);
      if (!p || key === undefined) return;
      proc.pending.delete(key);
      clearTimeout(p.timer);
      if (p.internal) p.internal(m);
      else {
        if (p.replyId !== undefined) m.id = p.replyId;
        p.exchange?.respond(m);
      }
      return;
    }
    const session = proc.session;
    if (session?.data.listen) {
      this.toListener(proc, session.data.listen, m);
      return;
    }
    if (isRequest(m)) {
      if (this.undeclared(proc, m)) return;
      if (session?.kind === 'stateless') {
        if (m.method === 'ping') proc.up.send({ jsonrpc: '2.0', id: m.id, result: {} });
        else this.mrtr.serverRequest(session, m);
        return;
      }
      if (!session) {
        if (m.method === 'ping') proc.up.send({ jsonrpc: '2.0', id: m.id, result: {} });
        else proc.up.send(errorResponse(m.id, METHOD_NOT_FOUND, `${m.method} is not available outside a client session`));
        return;
      }
      const json = JSON.stringify(m);
      if (!this.transport.openPost(session)?.notify(json)) this.transport.sendToSession(session, json);
      return;
    }
    if (!session) return;
    const json = JSON.stringify(m);
    if (m.method === 'notifications/progress') {
      const token = m.params?.progressToken;
      for (const p of proc.pending.values()) {
        if (p.token === undefined || p.token !== token || !p.exchange) continue;
        const out = p.replyToken === undefined ? json : JSON.stringify({ ...m, params: { ...m.params, progressToken: p.replyToken } });
        if (p.exchange.notify(out)) return;
      }
    } else if (m.method.endsWith('/list_changed')) {
      this.opts.events?.onListChanged?.(m.method);
    }
    if (session.kind === 'stateless') {
      // No session stream: messages ride along with the call's own response stream; while the call waits for
      // the client's retry (multi round-trip) they are held for the retry's stream.
      for (const p of proc.pending.values()) if (p.exchange?.notify(json)) return;
      this.mrtr.hold(session, m, json.length);
      return;
    }
    this.transport.sendToSession(session, json);
  }

  /** A listen stream's process: notifications go to the stream (its filter decides); requests have no one to answer them. */
  private toListener(proc: IsoProc, stream: ListenStream, m: JsonRpcMessage): void {
    if (isRequest(m)) {
      if (m.method === 'ping') proc.up.send(resultResponse(m.id, {}));
      else proc.up.send(errorResponse(m.id, METHOD_NOT_FOUND, `${m.method} is not available: no client request is in progress on a listen stream`));
      return;
    }
    if (isResponse(m)) return;
    if (m.method.endsWith('/list_changed')) this.opts.events?.onListChanged?.(m.method);
    stream.deliver(m.method, m.params);
  }
}
