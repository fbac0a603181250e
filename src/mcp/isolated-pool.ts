import type { ExitInfo } from '../runtime/types.js';
import type { IsolatedBridgeOptions } from './types.js';
import type { Exchange } from './exchange.js';
import type { Session } from './transport.js';
import type { MrtrState } from './mrtr.js';
import type { JsonRpcId, JsonRpcMessage, JsonRpcRequest, JsonRpcResponse } from './jsonrpc.js';
import { INVALID_REQUEST, REQUEST_TIMEOUT, UPSTREAM_EXITED, errorResponse, idKey, progressTokenOf, serialize } from './jsonrpc.js';
import { Upstream, describeExit } from './upstream.js';

export type S = Session<IsoSession>;

export interface IsoSession {
  proc: IsoProc | null;
  /** Multi round-trip state of a stateless (2026-07-28) call. */
  mrtr: MrtrState | null;
}

export interface Pending {
  exchange: Exchange | null;
  /** The id to answer with when it differs from the upstream one (a resumed multi round-trip call). */
  replyId?: JsonRpcId;
  req: JsonRpcRequest;
  timer: NodeJS.Timeout;
  token: string | number | undefined;
  internal: ((msg: JsonRpcResponse | Error) => void) | null;
}

/** One process: warm in the pool, bound to a session, or running a probe. */
export interface IsoProc {
  up: Upstream;
  role: 'warm' | 'session' | 'probe';
  session: S | null;
  /** Keyed by idKey(client id); ids pass through unchanged in isolated mode. */
  pending: Map<string | number, Pending>;
}

/** Isolated mode's processes: the warm pool, spawning, stopping, crash backoff and requests in flight. */
export abstract class IsolatedProcesses {
  protected readonly warm: IsoProc[] = [];
  protected readonly active = new Set<IsoProc>();
  protected readonly probes = new Set<IsoProc>();
  protected readonly stops = new Set<Promise<unknown>>();
  protected poolSpawning = 0;
  protected waitingForSpawn = 0;
  protected seq = 0;
  protected closing = false;
  protected poolFailures: number[] = [];
  protected poolGaveUp = false;
  protected refillTimer: NodeJS.Timeout | null = null;

  constructor(protected readonly opts: IsolatedBridgeOptions) {}

  /** Every message from a process except the answers to requests it was sent. */
  protected abstract onUpstream(proc: IsoProc, m: JsonRpcMessage): void;
  /** The process bound to a session exited on its own. */
  protected abstract sessionProcessExited(session: S): void;

  // ---- processes ----

  protected poolTarget(): number {
    if (this.closing || this.poolGaveUp) return 0;
    const room = this.opts.isolated.max - this.active.size - this.waitingForSpawn;
    return Math.max(0, Math.min(this.opts.isolated.warm, room));
  }

  protected refill(): void {
    const want = this.poolTarget() - this.warm.length - this.poolSpawning;
    for (let i = 0; i < want; i++) void this.spawnWarm();
  }

  /** Spawn one pool process; false when the spawn failed. */
  protected async spawnWarm(): Promise<boolean> {
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

  protected async spawnProc(role: IsoProc['role']): Promise<IsoProc> {
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

  protected stopProc(proc: IsoProc): void {
    this.probes.delete(proc);
    this.active.delete(proc);
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
    if (session && !session.ended) this.sessionProcessExited(session);
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
