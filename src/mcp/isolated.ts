import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ToolSummary } from '../core/index.js';
import type { ExitInfo } from '../runtime/types.js';
import type { EndpointStats, IsolatedBridge, IsolatedBridgeOptions } from './types.js';
import type { PostExchange } from './exchange.js';
import type { Session, SessionEndReason, TransportBackend } from './transport.js';
import { StreamableHttpTransport } from './transport.js';
import { BerthError } from '../core/errors.js';
import type { JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from './jsonrpc.js';
import {
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  REQUEST_TIMEOUT,
  UPSTREAM_EXITED,
  errorResponse,
  idKey,
  isRequest,
  isResponse,
  progressTokenOf,
} from './jsonrpc.js';
import { LATEST_PROTOCOL_VERSION } from './http.js';
import { collectTools } from './probe.js';
import { Upstream, describeExit } from './upstream.js';

type S = Session<IsoSession>;

interface IsoSession {
  proc: IsoProc | null;
}

interface Pending {
  exchange: PostExchange | null;
  timer: NodeJS.Timeout;
  token: string | number | undefined;
  internal: ((msg: JsonRpcResponse | Error) => void) | null;
}

/** One process: warm in the pool, bound to a session, or running a probe. */
interface IsoProc {
  up: Upstream;
  role: 'warm' | 'session' | 'probe';
  session: S | null;
  /** Keyed by idKey(client id); ids pass through unchanged in isolated mode. */
  pending: Map<string | number, Pending>;
}

/** Create a bridge that gives each client session its own process, from a warm pool. */
export function createIsolatedBridge(opts: IsolatedBridgeOptions): IsolatedBridge {
  return new IsolatedBridgeImpl(opts);
}

class IsolatedBridgeImpl implements IsolatedBridge, TransportBackend<IsoSession> {
  private readonly transport: StreamableHttpTransport<IsoSession>;
  private readonly warm: IsoProc[] = [];
  private readonly active = new Set<IsoProc>();
  private readonly probes = new Set<IsoProc>();
  private readonly stops = new Set<Promise<unknown>>();
  private poolSpawning = 0;
  private waitingForSpawn = 0;
  private seq = 0;
  private closing = false;
  private poolFailures: number[] = [];
  private poolGaveUp = false;
  private refillTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: IsolatedBridgeOptions) {
    if (!Number.isInteger(opts.isolated.max) || opts.isolated.max < 1) throw new Error('isolated.max must be a positive integer');
    if (!Number.isInteger(opts.isolated.warm) || opts.isolated.warm < 0) throw new Error('isolated.warm must be an integer >= 0');
    this.transport = new StreamableHttpTransport(this, {
      limits: opts.limits,
      sseAfterMs: opts.timing?.sseAfterMs,
      keepaliveMs: opts.timing?.keepaliveMs,
      log: opts.log,
    });
  }

  async start(): Promise<void> {
    const want = this.poolTarget() - this.warm.length - this.poolSpawning;
    const spawned = await Promise.all(Array.from({ length: Math.max(0, want) }, () => this.spawnWarm()));
    if (spawned.some((ok) => !ok)) throw new Error('could not fill the warm pool: spawn failed');
  }

  handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    return this.transport.handle(req, res, body);
  }

  async probe(timeoutMs: number): Promise<{ tools: ToolSummary[] }> {
    const deadline = Date.now() + timeoutMs;
    const left = (): number => {
      const ms = deadline - Date.now();
      if (ms <= 0) throw new Error('probe timed out');
      return ms;
    };
    const proc = await this.spawnProc('probe');
    try {
      await this.internal(proc, 'initialize', { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'berth', version: this.opts.version ?? '0.1.0' } }, left());
      proc.up.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      const tools = await collectTools((params) => this.internal(proc, 'tools/list', params, left()));
      return { tools };
    } finally {
      this.stopProc(proc);
    }
  }

  stats(): EndpointStats {
    let inFlight = 0;
    for (const p of this.active) inFlight += p.pending.size;
    return { sessions: this.transport.sessions.size, processes: this.warm.length + this.active.size + this.probes.size, inFlight };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.transport.close();
    for (const p of this.warm.splice(0)) this.stopProc(p);
    for (const p of [...this.active, ...this.probes]) this.stopProc(p);
    await Promise.all([...this.stops]);
  }

  // ---- TransportBackend ----

  newSessionData(): IsoSession {
    return { proc: null };
  }

  async initialize(session: S, req: JsonRpcRequest): Promise<JsonRpcResponse> {
    if (this.closing) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closing');
    if (this.active.size + this.waitingForSpawn >= this.opts.isolated.max) {
      throw new BerthError('TOO_MANY_SESSIONS', `Too many sessions: all ${this.opts.isolated.max} isolated processes are in use`);
    }
    let proc = this.warm.shift();
    if (!proc) {
      this.waitingForSpawn++;
      try {
        proc = await this.spawnProc('session');
      } catch (err) {
        throw new BerthError('UPSTREAM_UNAVAILABLE', `MCP server unavailable: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        this.waitingForSpawn--;
      }
    }
    proc.role = 'session';
    proc.session = session;
    session.data.proc = proc;
    this.active.add(proc);
    this.refill();
    if (session.ended || this.closing) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closing');
    this.opts.events?.onClientRequest?.(req.method);
    const answer = await new Promise<JsonRpcResponse>((resolve, reject) => {
      this.send(proc, req, null, (msg) => (msg instanceof Error ? reject(new BerthError('UPSTREAM_FAILED', msg.message)) : resolve(msg)));
    });
    if (!('error' in answer) && proc.up.alive) this.opts.events?.onProcessReady?.({ pid: proc.up.pid, instanceKey: proc.up.instanceKey });
    return answer;
  }

  request(session: S, req: JsonRpcRequest, exchange: PostExchange): void {
    this.opts.events?.onClientRequest?.(req.method);
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
    const proc = session.data.proc;
    session.data.proc = null;
    if (!proc) return;
    proc.session = null;
    this.failPending(proc, null);
    this.stopProc(proc);
    this.refill();
  }

  // ---- processes ----

  private poolTarget(): number {
    if (this.closing || this.poolGaveUp) return 0;
    const room = this.opts.isolated.max - this.active.size - this.waitingForSpawn;
    return Math.max(0, Math.min(this.opts.isolated.warm, room));
  }

  private refill(): void {
    const want = this.poolTarget() - this.warm.length - this.poolSpawning;
    for (let i = 0; i < want; i++) void this.spawnWarm();
  }

  /** Spawn one pool process; false when the spawn failed. */
  private async spawnWarm(): Promise<boolean> {
    this.poolSpawning++;
    try {
      const proc = await this.spawnProc('warm');
      if (this.closing || this.warm.length >= this.poolTarget()) this.stopProc(proc);
      else this.warm.push(proc);
      return true;
    } catch (err) {
      this.poolFailure(`spawn failed: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    } finally {
      this.poolSpawning--;
    }
  }

  private async spawnProc(role: IsoProc['role']): Promise<IsoProc> {
    const key = `s-${++this.seq}`;
    const raw = await this.opts.spawn(key);
    const proc: IsoProc = { up: null as unknown as Upstream, role, session: null, pending: new Map() };
    proc.up = new Upstream(raw, key, {
      maxLineBytes: this.opts.maxLineBytes,
      log: this.opts.log,
      onMessage: (m) => this.onUpstream(proc, m),
      onExit: (exit) => this.onExit(proc, exit),
    });
    if (role === 'probe') this.probes.add(proc);
    return proc;
  }

  private stopProc(proc: IsoProc): void {
    this.probes.delete(proc);
    this.active.delete(proc);
    const i = this.warm.indexOf(proc);
    if (i !== -1) this.warm.splice(i, 1);
    if (!proc.up.alive) return;
    const p = proc.up.stop(this.opts.timing?.stopGraceMs);
    this.stops.add(p);
    void p.finally(() => this.stops.delete(p));
  }

  private onExit(proc: IsoProc, exit: ExitInfo): void {
    const expected = proc.up.stopping;
    this.opts.events?.onProcessExit?.({ pid: proc.up.pid, instanceKey: proc.up.instanceKey, exit, expected });
    this.failPending(proc, exit);
    const wasWarm = this.warm.includes(proc);
    this.stopProc(proc);
    if (!expected) this.opts.log?.(`bridge ${this.opts.deploymentId}: process ${proc.up.pid} (${proc.up.instanceKey}) exited (${describeExit(exit)})`);
    const session = proc.session;
    proc.session = null;
    if (session && !session.ended) this.transport.endSession(session, 'upstream-exit');
    if (wasWarm && !expected) this.poolFailure(`warm process exited (${describeExit(exit)})`);
    else this.refill();
  }

  /** A pool process could not be spawned or died idle: retry with backoff, give up after too many. */
  private poolFailure(reason: string): void {
    if (this.closing || this.poolGaveUp) return;
    const { initialDelayMs, maxDelayMs, maxCrashes, windowMs } = this.opts.restart;
    const now = Date.now();
    this.poolFailures = this.poolFailures.filter((t) => now - t < windowMs);
    this.poolFailures.push(now);
    if (this.poolFailures.length >= maxCrashes) {
      this.poolGaveUp = true;
      const why = `stopped filling the warm pool after ${this.poolFailures.length} failures (last: ${reason})`;
      this.opts.log?.(`bridge ${this.opts.deploymentId}: ${why}`);
      this.opts.events?.onGaveUp?.(why);
      return;
    }
    if (this.refillTimer) return;
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** (this.poolFailures.length - 1));
    this.refillTimer = setTimeout(() => {
      this.refillTimer = null;
      this.refill();
    }, delay);
    this.refillTimer.unref();
  }

  // ---- messages ----

  private send(proc: IsoProc, req: JsonRpcRequest, exchange: PostExchange | null, internal: Pending['internal']): void {
    const key = idKey(req.id);
    if (proc.pending.has(key)) {
      const err = errorResponse(req.id, INVALID_REQUEST, 'A request with this id is already in flight');
      if (internal) internal(new Error(err.error.message));
      else exchange?.respond(err);
      return;
    }
    const timer = setTimeout(() => this.timedOut(proc, key, req), this.opts.limits.requestTimeoutMs);
    proc.pending.set(key, { exchange, timer, token: progressTokenOf(req), internal });
    if (!proc.up.send(req)) this.failPending(proc, proc.up.exitInfo ?? { code: null, signal: null });
  }

  private internal(proc: IsoProc, method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`${method} timed out after ${timeoutMs} ms`)), timeoutMs);
      this.send(proc, { jsonrpc: '2.0', id: `berth-${++this.seq}`, method, params }, null, (msg) => {
        clearTimeout(guard);
        if (msg instanceof Error) reject(msg);
        else if ('error' in msg) reject(new Error(`${method} failed: ${msg.error.code} ${msg.error.message}`));
        else resolve((msg.result ?? {}) as Record<string, unknown>);
      });
    });
  }

  private timedOut(proc: IsoProc, key: string | number, req: JsonRpcRequest): void {
    const p = proc.pending.get(key);
    if (!p) return;
    proc.pending.delete(key);
    proc.up.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: req.id, reason: 'request timed out' } });
    const ms = this.opts.limits.requestTimeoutMs;
    this.reply(p, errorResponse(req.id, REQUEST_TIMEOUT, `Request timed out: the MCP server gave no answer within ${ms} ms`));
  }

  private reply(p: Pending, msg: JsonRpcResponse): void {
    if (p.internal) p.internal(msg);
    else p.exchange?.respond(msg);
  }

  /** End every pending request of a process: with an exit error, or silently (exit null). */
  private failPending(proc: IsoProc, exit: ExitInfo | null): void {
    const pending = [...proc.pending];
    proc.pending.clear();
    for (const [key, p] of pending) {
      clearTimeout(p.timer);
      if (!exit) {
        p.internal?.(new Error('session ended'));
        continue;
      }
      const id = typeof key === 'number' ? key : key.slice(2);
      const data = { exitCode: exit.code, signal: exit.signal };
      this.reply(p, errorResponse(id, UPSTREAM_EXITED, `MCP server process exited (${describeExit(exit)}) before answering`, data));
    }
  }

  private onUpstream(proc: IsoProc, m: JsonRpcMessage): void {
    if (isResponse(m)) {
      const key = m.id === null ? undefined : idKey(m.id);
      const p = key === undefined ? undefined : proc.pending.get(key);
      if (!p || key === undefined) return;
      proc.pending.delete(key);
      clearTimeout(p.timer);
      if (p.internal) p.internal(m);
      else p.exchange?.respond(m);
      return;
    }
    const session = proc.session;
    if (isRequest(m)) {
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
        if (p.token !== undefined && p.token === token && p.exchange?.notify(json)) return;
      }
    } else if (m.method.endsWith('/list_changed')) {
      this.opts.events?.onListChanged?.(m.method);
    }
    this.transport.sendToSession(session, json);
  }
}
