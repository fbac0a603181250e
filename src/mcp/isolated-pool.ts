import { availableParallelism } from 'node:os';
import type { ExitInfo } from '../runtime/types.js';
import type { IsolatedBridgeOptions } from './types.js';
import type { Exchange } from './exchange.js';
import type { Session } from './transport.js';
import type { MrtrState } from './mrtr.js';
import type { ListenStream } from './stateless.js';
import type { JsonRpcId, JsonRpcMessage, JsonRpcRequest, JsonRpcResponse } from './jsonrpc.js';
import { INVALID_REQUEST, REQUEST_TIMEOUT, RESPONSE_TOO_LARGE, UPSTREAM_EXITED, errorResponse, idKey, progressTokenOf, serialize } from './jsonrpc.js';
import { PRIME_CAPABILITIES, PRIME_VERSION } from './prime.js';
import { Upstream, describeExit } from './upstream.js';
import type { OversizeLine } from './upstream.js';

export type S = Session<IsoSession>;

export interface IsoSession {
  proc: IsoProc | null;
  /** Multi round-trip state of a stateless (2026-07-28) call. */
  mrtr: MrtrState | null;
  /** The `subscriptions/listen` stream this process serves (revision 2026-07-28), if that is its job. */
  listen: ListenStream | null;
}

/** Client handshakes (initialize … notifications/initialized) hold the pool refill back at most this long. */
export const REFILL_MAX_DEFER_MS = 100;
/** Once the last handshake settled, the refill waits this long more (the client's first requests go first). */
export const REFILL_AFTER_HANDSHAKE_MS = 20;
/** A client that never sends notifications/initialized stops holding the refill back after this long. */
const HANDSHAKE_SETTLE_MS = 1_000;

export interface Pending {
  exchange: Exchange | null;
  /** The id to answer with when it differs from the upstream one (a resumed multi round-trip call). */
  replyId?: JsonRpcId;
  req: JsonRpcRequest;
  timer: NodeJS.Timeout;
  /** The progress token the process knows the request by. */
  token: string | number | undefined;
  /** The token to give the client instead (a multi round-trip retry that sent its own). */
  replyToken?: string | number;
  internal: ((msg: JsonRpcResponse | Error) => void) | null;
}

/** One process: warm in the pool, bound to a session, or running a probe. */
export interface IsoProc {
  up: Upstream;
  role: 'warm' | 'session' | 'probe';
  session: S | null;
  /** Keyed by idKey(client id); ids pass through unchanged in isolated mode. */
  pending: Map<string | number, Pending>;
  /** The server's answer to the bridge's own initialize, sent while the process waited in the pool. */
  primed: Record<string, unknown> | null;
  /** What the bound client declared; server requests for other client features are refused by the bridge. */
  clientCaps: Record<string, unknown> | null;
  /** Set while the bound client's handshake is in flight (it holds the pool refill back). */
  handshake: NodeJS.Timeout | null;
}

/** Isolated mode's processes: the warm pool, spawning, stopping, crash backoff and requests in flight. */
export abstract class IsolatedProcesses {
  protected readonly warm: IsoProc[] = [];
  protected readonly active = new Set<IsoProc>();
  protected readonly probes = new Set<IsoProc>();
  /** Pool processes being primed (stopped by close() like the others). */
  protected readonly unprimed = new Set<IsoProc>();
  protected readonly stops = new Set<Promise<unknown>>();
  protected poolSpawning = 0;
  protected waitingForSpawn = 0;
  protected seq = 0;
  protected closing = false;
  protected poolFailures: number[] = [];
  protected poolGaveUp = false;
  protected refillTimer: NodeJS.Timeout | null = null;
  /** Client handshakes in flight; the pool refill waits for them (up to REFILL_MAX_DEFER_MS). */
  protected readonly handshakes = new Set<IsoProc>();
  private refillDeferred: NodeJS.Timeout | null = null;
  /** Pool processes started at once by a refill: one core stays free for Berth and the running servers. */
  private readonly spawnConcurrency = Math.max(1, availableParallelism() - 1);

  constructor(protected readonly opts: IsolatedBridgeOptions) {}

  /** Pool processes are initialized by the bridge while they wait (see PRIME_*); `isolated.prime: false` turns it off. */
  protected get priming(): boolean {
    return this.opts.isolated.prime !== false;
  }

  /** Every message from a process except the answers to requests it was sent. */
  protected abstract onUpstream(proc: IsoProc, m: JsonRpcMessage): void;
  /** The process bound to a session exited on its own. */
  protected abstract sessionProcessExited(session: S, exit: ExitInfo): void;

  // ---- processes ----

  protected poolTarget(): number {
    if (this.closing || this.poolGaveUp) return 0;
    const room = this.opts.isolated.max - this.active.size - this.waitingForSpawn;
    return Math.max(0, Math.min(this.opts.isolated.warm, room));
  }

  /**
   * Top the pool up. While client handshakes are in flight the refill waits for them (at most
   * REFILL_MAX_DEFER_MS): a starting server burns a core for a while, and a handshake should not compete with it.
   * At most `spawnConcurrency` pool processes start at once; each one that is ready starts the next.
   */
  protected refill(): void {
    if (this.closing) return;
    if (this.handshakes.size > 0) {
      this.refillDeferred ??= setTimeout(() => this.refillNow(), REFILL_MAX_DEFER_MS);
      this.refillDeferred.unref();
      return;
    }
    this.refillNow();
  }

  private refillNow(): void {
    if (this.refillDeferred) clearTimeout(this.refillDeferred);
    this.refillDeferred = null;
    const want = Math.min(this.poolTarget() - this.warm.length - this.poolSpawning, this.spawnConcurrency - this.poolSpawning);
    for (let i = 0; i < want; i++) {
      void this.spawnWarm().then((ok) => {
        if (ok) this.refill();
      });
    }
  }

  /** Cancel a deferred refill (closing). */
  protected stopRefills(): void {
    if (this.refillDeferred) clearTimeout(this.refillDeferred);
    this.refillDeferred = null;
  }

  /** Stop pool processes beyond the target (a cold process for a session needs the room under `max`). */
  protected trimPool(): void {
    while (this.warm.length > this.poolTarget()) {
      const p = this.warm.pop();
      if (p) this.stopProc(p);
    }
  }

  /** A client handshake started on `proc`: the pool refill waits until it settles. */
  protected handshakeStarted(proc: IsoProc): void {
    this.handshakes.add(proc);
    proc.handshake = setTimeout(() => this.handshakeSettled(proc), HANDSHAKE_SETTLE_MS);
    proc.handshake.unref();
  }

  /** The client's notifications/initialized arrived (or the session ended): a deferred refill may run. */
  protected handshakeSettled(proc: IsoProc): void {
    if (proc.handshake) clearTimeout(proc.handshake);
    proc.handshake = null;
    if (!this.handshakes.delete(proc) || this.handshakes.size > 0 || !this.refillDeferred) return;
    // Starting a process blocks the event loop for a few ms: let the answer that settled the handshake and the
    // client's first requests (tools/list…) go out first.
    clearTimeout(this.refillDeferred);
    this.refillDeferred = setTimeout(() => {
      if (this.handshakes.size === 0) this.refillNow();
      else this.refillDeferred = setTimeout(() => this.refillNow(), REFILL_MAX_DEFER_MS);
    }, REFILL_AFTER_HANDSHAKE_MS);
    this.refillDeferred.unref();
  }

  /** Spawn one pool process (and prime it); false when that failed. */
  protected async spawnWarm(): Promise<boolean> {
    this.poolSpawning++;
    let proc: IsoProc | null = null;
    try {
      proc = await this.spawnProc('warm');
      this.unprimed.add(proc);
      if (this.priming && !this.closing) await this.prime(proc);
      if (this.closing || this.warm.length >= this.poolTarget() || !proc.up.alive) this.stopProc(proc);
      else this.warm.push(proc);
      return true;
    } catch (err) {
      if (proc) this.stopProc(proc);
      this.poolFailure(`${proc ? 'initialize' : 'spawn'} failed: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    } finally {
      if (proc) this.unprimed.delete(proc);
      this.poolSpawning--;
    }
  }

  /**
   * The bridge's own initialize, sent while the process waits in the pool: a client's initialize is then
   * answered from this result at once, instead of waiting for a server that has just started. The server's
   * `notifications/initialized` is held back until the client sends its own.
   */
  private async prime(proc: IsoProc): Promise<void> {
    const limit = this.opts.timing?.handshakeTimeoutMs ?? Math.max(10_000, this.opts.limits.requestTimeoutMs);
    const params = { protocolVersion: PRIME_VERSION, capabilities: PRIME_CAPABILITIES, clientInfo: { name: 'berth', version: this.opts.version ?? '0.1.0' } };
    proc.primed = await this.internal(proc, 'initialize', params, limit);
    this.primedResult(proc.primed);
  }

  /** A pool process answered the bridge's initialize (the isolated bridge caches it for server/discover). */
  protected primedResult(_result: Record<string, unknown>): void {}

  protected async spawnProc(role: IsoProc['role']): Promise<IsoProc> {
    const key = `s-${++this.seq}`;
    const raw = await this.opts.spawn(key);
    const proc: IsoProc = { up: null as unknown as Upstream, role, session: null, pending: new Map(), primed: null, clientCaps: null, handshake: null };
    proc.up = new Upstream(raw, key, {
      maxLineBytes: this.opts.maxLineBytes,
      maxStdinBytes: this.opts.maxStdinBytes,
      pressure: this.opts.pressure,
      log: this.opts.log,
      onMessage: (m) => this.onUpstream(proc, m),
      onExit: (exit) => this.onExit(proc, exit),
      onOversize: (line) => this.oversize(proc, line),
    });
    if (role === 'probe') this.probes.add(proc);
    return proc;
  }

  protected stopProc(proc: IsoProc): void {
    this.probes.delete(proc);
    this.active.delete(proc);
    this.handshakeSettled(proc);
    const i = this.warm.indexOf(proc);
    if (i !== -1) this.warm.splice(i, 1);
    if (!proc.up.alive) return;
    const p = proc.up.stop(this.opts.timing?.stopGraceMs);
    this.stops.add(p);
    void p.finally(() => this.stops.delete(p));
  }

  protected onExit(proc: IsoProc, exit: ExitInfo): void {
    const expected = proc.up.stopping;
    this.opts.events?.onProcessExit?.({ pid: proc.up.pid, instanceKey: proc.up.instanceKey, exit, expected });
    this.failPending(proc, exit);
    const wasWarm = this.warm.includes(proc);
    this.stopProc(proc);
    if (!expected) this.opts.log?.(`bridge ${this.opts.deploymentId}: process ${proc.up.pid} (${proc.up.instanceKey}) exited (${describeExit(exit)})`);
    const session = proc.session;
    proc.session = null;
    if (session && !session.ended) this.sessionProcessExited(session, exit);
    if (wasWarm && !expected) this.poolFailure(`warm process exited (${describeExit(exit)})`);
    else this.refill();
  }

  /** A pool process could not be spawned or died idle: retry with backoff, give up after too many. */
  protected poolFailure(reason: string): void {
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

  protected send(proc: IsoProc, req: JsonRpcRequest, exchange: Exchange | null, internal: Pending['internal']): void {
    const key = idKey(req.id);
    if (proc.pending.has(key)) {
      const err = errorResponse(req.id, INVALID_REQUEST, 'A request with this id is already in flight');
      if (internal) internal(new Error(err.error.message));
      else exchange?.respond(err);
      return;
    }
    const json = serialize(req);
    if (json === null) {
      const err = errorResponse(req.id, INVALID_REQUEST, 'Invalid Request: the message is nested too deeply to forward');
      if (internal) internal(new Error(err.error.message));
      else exchange?.respond(err);
      return;
    }
    if (proc.up.backlogged) {
      const busy = proc.up.busyError(req.id);
      if (internal) internal(new Error(busy.error.message));
      else exchange?.respond(busy);
      return;
    }
    const timer = setTimeout(() => this.timedOut(proc, key, req), this.opts.limits.requestTimeoutMs);
    proc.pending.set(key, { exchange, req, timer, token: progressTokenOf(req), internal });
    if (!proc.up.send(json)) this.failPending(proc, proc.up.exitInfo ?? { code: null, signal: null });
  }

  protected internal(proc: IsoProc, method: string, params: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
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

  protected timedOut(proc: IsoProc, key: string | number, req: JsonRpcRequest): void {
    const p = proc.pending.get(key);
    if (!p) return;
    proc.pending.delete(key);
    proc.up.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: req.id, reason: 'request timed out' } });
    const ms = this.opts.limits.requestTimeoutMs;
    this.reply(p, errorResponse(p.replyId ?? req.id, REQUEST_TIMEOUT, `Request timed out: the MCP server gave no answer within ${ms} ms`));
  }

  /**
   * A stdout line over the limit whose request could not be told from its first or last bytes: with exactly
   * one request in flight, it must be that one's answer.
   */
  private oversize(proc: IsoProc, line: OversizeLine): void {
    if (line.kind === 'request' || line.kind === 'notification' || proc.pending.size !== 1) return;
    const [key, p] = [...proc.pending][0]!;
    proc.pending.delete(key);
    clearTimeout(p.timer);
    const id = p.replyId ?? p.req.id;
    this.reply(p, errorResponse(id, RESPONSE_TOO_LARGE, line.message, line.data));
  }

  protected reply(p: Pending, msg: JsonRpcResponse): void {
    if (p.internal) p.internal(msg);
    else p.exchange?.respond(msg);
  }

  /** End every pending request of a process: with an exit error, or silently (exit null). */
  protected failPending(proc: IsoProc, exit: ExitInfo | null): void {
    const pending = [...proc.pending];
    proc.pending.clear();
    for (const [key, p] of pending) {
      clearTimeout(p.timer);
      if (!exit) {
        p.internal?.(new Error('session ended'));
        continue;
      }
      const id = p.replyId ?? (typeof key === 'number' ? key : key.slice(2));
      const data = { exitCode: exit.code, signal: exit.signal };
      this.reply(p, errorResponse(id, UPSTREAM_EXITED, `MCP server process exited (${describeExit(exit)}) before answering`, data));
    }
  }

}
