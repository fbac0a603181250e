import type { ExitInfo } from '../../core/process.js';
import type { IsolatedBridgeOptions, SpawnProcess } from '../types.js';
import type { JsonRpcMessage } from '../wire/jsonrpc.js';
import { Upstream, describeExit } from './upstream.js';
import { IsolatedRpc } from './isolated-rpc.js';
import type { IsoProc, S } from './isolated-rpc.js';

/** Client handshakes (initialize … notifications/initialized) hold the pool refill back at most this long. */
export const REFILL_MAX_DEFER_MS = 100;
/** Once the last handshake settled, the refill waits this long more (the client's first requests go first). */
export const REFILL_AFTER_HANDSHAKE_MS = 20;
/** A client that never sends notifications/initialized stops holding the refill back after this long. */
const HANDSHAKE_SETTLE_MS = 1_000;

/**
 * Isolated mode's processes one by one: spawning, stopping, exits, crash backoff, and client handshakes (which hold
 * the pool's refill back). The pool itself (how many, who gets which) is isolated-pool.ts.
 */
export abstract class IsolatedProcs extends IsolatedRpc {
  protected readonly warm: IsoProc[] = [];
  protected readonly active = new Set<IsoProc>();
  protected readonly probes = new Set<IsoProc>();
  protected readonly stops = new Set<Promise<unknown>>();
  protected closing = false;
  protected poolFailures: number[] = [];
  protected poolGaveUp = false;
  /** The crash backoff's refill. */
  protected refillTimer: NodeJS.Timeout | null = null;
  /** Client handshakes in flight; the pool refill waits for them (up to REFILL_MAX_DEFER_MS). */
  protected readonly handshakes = new Set<IsoProc>();
  protected refillDeferred: NodeJS.Timeout | null = null;
  /** The current revision's spawn function and its generation (swap() moves both on). */
  protected spawnFn: SpawnProcess;
  protected gen = 0;

  constructor(opts: IsolatedBridgeOptions) {
    super(opts);
    this.spawnFn = opts.spawn;
  }

  /** Pool processes are initialized by the bridge while they wait (see PRIME_*); `isolated.prime: false` turns it off. */
  protected get priming(): boolean {
    return this.opts.isolated.prime !== false;
  }

  /** Every message from a process except the answers to requests it was sent. */
  protected abstract onUpstream(proc: IsoProc, m: JsonRpcMessage): void;
  /** The process bound to a session exited on its own. */
  protected abstract sessionProcessExited(session: S, exit: ExitInfo): void;

  /** Top the pool up (now, or once client handshakes settle). */
  protected abstract refill(): void;
  /** Top the pool up now. */
  protected abstract refillNow(): void;
  /** The pool gave up after too many failures (opens waiting for it are refused). */
  protected abstract poolGaveUpOn(why: string): void;

  // ---- handshakes ----

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

  // ---- processes ----

  protected async spawnProc(role: IsoProc['role'], spawn: SpawnProcess = this.spawnFn, gen = this.gen): Promise<IsoProc> {
    const key = `s-${++this.seq}`;
    const raw = await spawn(key);
    const proc: IsoProc = { up: null as unknown as Upstream, role, session: null, pending: new Map(), primed: null, clientCaps: null, handshake: null, gen };
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
      this.poolGaveUpOn(why);
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
}
