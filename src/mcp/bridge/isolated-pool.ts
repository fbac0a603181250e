import { availableParallelism } from 'node:os';
import { BerthError } from '../../core/errors.js';
import type { IsolatedBridgeOptions, SpawnProcess } from '../types.js';
import { PRIME_CAPABILITIES, PRIME_VERSION } from './prime.js';
import { PoolDemand } from './pool-demand.js';
import { IsolatedProcs, REFILL_MAX_DEFER_MS } from './isolated-procs.js';
import type { IsoProc } from './isolated-rpc.js';

export type { IsoProc, IsoSession, Pending, S } from './isolated-rpc.js';
export { REFILL_AFTER_HANDSHAKE_MS, REFILL_MAX_DEFER_MS } from './isolated-procs.js';

/** How far the pool may grow with demand when `isolated.maxWarm` is not set (never below `isolated.warm`). */
export const DEFAULT_MAX_WARM = 16;
/** Quiet period after which the demand above the floor halves (BridgeTiming.poolQuietMs). */
export const DEFAULT_POOL_QUIET_MS = 30_000;

/** A pool process being started (spawned, then primed). */
interface Slot {
  gen: number;
  proc: IsoProc | null;
  /** Not wanted any more (room for a cold process, a swap, closing): stopped as soon as it exists. */
  cancelled: boolean;
  /** Settles (true: it reached the pool or a waiter) once the slot is over. */
  done: Promise<boolean>;
}

/** An open that fits a primed process and found the pool empty: it takes the next one that is ready. */
interface Waiter {
  resolve(proc: IsoProc): void;
  reject(err: Error): void;
}

/**
 * Isolated mode's processes: the warm pool (adaptive: src/mcp/pool-demand.ts), opens waiting for a pool process,
 * cold processes, scale to zero, crash backoff. Counted against `isolated.max`: warm processes, pool processes
 * starting, processes bound to sessions and cold ones starting (processes Berth is stopping and probes are not).
 */
export abstract class IsolatedProcesses extends IsolatedProcs {
  private readonly slots = new Set<Slot>();
  private readonly waiters: Waiter[] = [];
  /** Cold processes being spawned for a session (the client's own initialize follows). */
  protected coldSpawning = 0;
  private shrinkTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Pool processes started ahead of demand at once (processes a waiting open needs are started at once, all of them). */
  private readonly aheadConcurrency = Math.max(2, availableParallelism());
  protected readonly demand: PoolDemand;
  /** Scaled to zero (after onIdle, until the next open). */
  protected asleep = false;
  protected lastRequestAt: number | null = null;
  private lastActivityAt = Date.now();

  constructor(opts: IsolatedBridgeOptions) {
    super(opts);
    const { warm, max } = opts.isolated;
    if (!Number.isInteger(max) || max < 1) throw new Error('isolated.max must be a positive integer');
    if (!Number.isInteger(warm) || warm < 0) throw new Error('isolated.warm must be an integer >= 0');
    const cap = opts.isolated.maxWarm ?? Math.max(warm, DEFAULT_MAX_WARM);
    if (!Number.isInteger(cap) || cap < warm) throw new Error('isolated.maxWarm must be an integer >= isolated.warm');
    if (opts.scale && !(opts.scale.idleMs > 0)) throw new Error('scale.idleMs must be positive');
    this.demand = new PoolDemand({ floor: warm, cap: Math.min(cap, max), quietMs: opts.timing?.poolQuietMs ?? DEFAULT_POOL_QUIET_MS });
  }

  // ---- counting ----

  /** Processes that count against `isolated.max`. */
  protected processCount(): number {
    return this.warm.length + this.slots.size + this.active.size + this.coldSpawning;
  }

  /** Processes taken or being taken by sessions. */
  protected inUse(): number {
    return this.active.size + this.coldSpawning + this.waiters.length;
  }

  private liveSlots(): number {
    let n = 0;
    for (const s of this.slots) if (!s.cancelled) n++;
    return n;
  }

  protected poolTarget(): number {
    if (this.closing || this.poolGaveUp || this.asleep) return 0;
    return Math.max(0, Math.min(this.demand.target(Date.now()), this.opts.isolated.max - this.inUse()));
  }

  // ---- taking a process ----

  /**
   * A session (or stateless call, or listen stream) asks for a process. Records the open for the pool's demand and
   * wakes a scaled-to-zero bridge. Throws TOO_MANY_SESSIONS at `isolated.max`.
   */
  protected admit(): void {
    if (this.closing) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closing');
    if (this.inUse() >= this.opts.isolated.max) {
      throw new BerthError('TOO_MANY_SESSIONS', `Too many sessions: all ${this.opts.isolated.max} isolated processes are in use`);
    }
    const now = Date.now();
    this.demand.opened(now);
    this.lastRequestAt = now;
    this.lastActivityAt = now;
    if (this.asleep) {
      this.asleep = false;
      this.opts.events?.onWake?.();
    }
  }

  /**
   * A process for a client that fits a primed one (`fits`): from the pool, else the next pool process that
   * becomes ready; a client that does not fit gets a cold process (the caller sends its own initialize). The
   * process is counted as in use (`active`) when this resolves.
   */
  protected async acquire(fits: boolean): Promise<IsoProc> {
    if (fits) {
      const proc = this.warm.shift();
      if (proc) {
        this.active.add(proc);
        return proc;
      }
      if (!this.poolGaveUp) {
        const waiting = new Promise<IsoProc>((resolve, reject) => this.waiters.push({ resolve, reject }));
        this.refill();
        return waiting;
      }
    }
    return this.coldProc();
  }

  private async coldProc(): Promise<IsoProc> {
    this.coldSpawning++;
    try {
      await this.makeRoom();
      const proc = await this.spawnProc('session');
      // Counted as in use from here on (no gap in which a refill could see room that is not there).
      this.active.add(proc);
      return proc;
    } catch (err) {
      throw err instanceof BerthError ? err : new BerthError('UPSTREAM_UNAVAILABLE', `MCP server unavailable: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.coldSpawning--;
    }
  }

  /** Stop warm processes, then pool processes no open waits for, until the processes fit under `isolated.max`. */
  private async makeRoom(): Promise<void> {
    for (let rounds = 0; this.processCount() > this.opts.isolated.max && rounds < 1000; rounds++) {
      const w = this.warm.pop();
      if (w) {
        this.stopProc(w);
        continue;
      }
      const spare = [...this.slots].reverse().find((s) => !s.cancelled);
      if (spare && this.liveSlots() > this.waiters.length) {
        this.cancelSlot(spare);
        continue;
      }
      const leaving = [...this.slots].find((s) => s.cancelled);
      if (!leaving) return;
      await leaving.done;
    }
  }

  // ---- the pool ----

  /**
   * Start the pool processes that waiting opens need (all at once), then top the pool up to its target. While
   * client handshakes are in flight the top-up waits for them (at most REFILL_MAX_DEFER_MS): a starting server
   * burns a core for a while, and a handshake should not compete with it. Ahead of demand, at most
   * `aheadConcurrency` pool processes start at once; each one that is ready starts the next.
   */
  protected refill(): void {
    if (this.closing) return;
    while (!this.poolGaveUp && this.liveSlots() < this.waiters.length && this.processCount() < this.opts.isolated.max) this.startSlot();
    if (this.handshakes.size > 0) {
      this.refillDeferred ??= setTimeout(() => this.refillNow(), REFILL_MAX_DEFER_MS);
      this.refillDeferred.unref();
      return;
    }
    this.refillNow();
  }

  protected refillNow(): void {
    if (this.refillDeferred) clearTimeout(this.refillDeferred);
    this.refillDeferred = null;
    if (this.closing || this.refillTimer) return;
    this.trimPool();
    this.armShrink();
    // A burst of opens is waiting for processes already starting (one each): more started ahead now would only
    // slow those down. A lone waiter (opens one after another) still gets the pool started ahead of it.
    if (this.waiters.length >= this.aheadConcurrency) return;
    const spare = Math.max(0, this.liveSlots() - this.waiters.length);
    const want = Math.min(this.poolTarget() - this.warm.length - spare, this.aheadConcurrency - spare, this.opts.isolated.max - this.processCount());
    for (let i = 0; i < want; i++) this.startSlot();
  }

  /** Fill the pool to its floor and wait for it; false when a process failed to start or prime. */
  protected async fillFloor(): Promise<boolean> {
    const want = Math.min(this.poolTarget(), this.opts.isolated.max - this.processCount()) - this.warm.length - this.liveSlots();
    const done = Array.from({ length: Math.max(0, want) }, () => this.startSlot().done);
    const ok = (await Promise.all(done)).every(Boolean);
    // The idle clock (scale to zero) starts once the pool is up.
    this.lastActivityAt = Date.now();
    this.armIdle();
    return ok;
  }

  private startSlot(): Slot {
    let settle!: (ok: boolean) => void;
    const slot: Slot = { gen: this.gen, proc: null, cancelled: false, done: new Promise<boolean>((r) => (settle = r)) };
    this.slots.add(slot);
    void this.runSlot(slot, this.spawnFn).then(settle);
    return slot;
  }

  private cancelSlot(slot: Slot): void {
    slot.cancelled = true;
    if (slot.proc) this.stopProc(slot.proc);
  }

  /** Spawn and prime one pool process, then hand it to the first waiting open or put it in the pool. */
  private async runSlot(slot: Slot, spawn: SpawnProcess): Promise<boolean> {
    const t0 = Date.now();
    let ok = false;
    try {
      const proc = await this.spawnProc('warm', spawn, slot.gen);
      slot.proc = proc;
      if (!slot.cancelled && !this.closing && this.priming) await this.prime(proc);
      if (slot.cancelled || this.closing || !proc.up.alive) {
        this.stopProc(proc);
        return false;
      }
      this.demand.started(Date.now() - t0);
      this.slots.delete(slot);
      ok = true;
      const waiter = this.waiters.shift();
      if (waiter) {
        this.active.add(proc);
        waiter.resolve(proc);
      }
      else if (this.warm.length < this.poolTarget()) this.warm.push(proc);
      else this.stopProc(proc);
      return true;
    } catch (err) {
      if (slot.proc) this.stopProc(slot.proc);
      if (!slot.cancelled && !this.closing) {
        const why = `${slot.proc ? 'initialize' : 'spawn'} failed: ${err instanceof Error ? err.message : String(err)}`;
        this.waiters.shift()?.reject(new BerthError('UPSTREAM_UNAVAILABLE', `MCP server unavailable: ${why}`));
        this.poolFailure(why);
      }
      return false;
    } finally {
      this.slots.delete(slot);
      // A ready process may start the next; a failure waits for its backoff (poolFailure).
      if (ok || slot.cancelled) this.refill();
    }
  }

  /**
   * The bridge's own initialize, sent while the process waits in the pool: a client's initialize is then
   * answered from this result at once, instead of waiting for a server that has just started. The server's
   * `notifications/initialized` is held back until the client sends its own.
   */
  private async prime(proc: IsoProc): Promise<void> {
    const limit = this.handshakeLimitMs();
    const params = { protocolVersion: PRIME_VERSION, capabilities: PRIME_CAPABILITIES, clientInfo: { name: 'berth', version: this.opts.version ?? '0.1.0' } };
    proc.primed = await this.internal(proc, 'initialize', params, limit);
    this.primedResult(proc.primed);
  }

  /** A pool process answered the bridge's initialize (the isolated bridge caches it for server/discover). */
  protected primedResult(_result: Record<string, unknown>): void {}

  /** Stop pool processes beyond the target (demand fell, or sessions need the room under `max`). */
  protected trimPool(): void {
    const target = this.poolTarget();
    while (this.warm.length > target) {
      const p = this.warm.pop();
      if (p) this.stopProc(p);
    }
  }

  /** Re-check the pool when its demand next falls (a quiet period ends). */
  private armShrink(): void {
    if (this.shrinkTimer || this.closing) return;
    const at = this.demand.nextDropAt(Date.now());
    if (at === null) return;
    this.shrinkTimer = setTimeout(() => {
      this.shrinkTimer = null;
      this.trimPool();
      this.armShrink();
    }, Math.max(1, at - Date.now()));
    this.shrinkTimer.unref();
  }

  /** The current revision changes: new pool processes come from `spawn`; the old warm and starting ones stop. */
  protected adoptSpawn(spawn: SpawnProcess): number {
    this.spawnFn = spawn;
    this.gen++;
    this.poolFailures = [];
    this.poolGaveUp = false;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.refillTimer = null;
    for (const p of this.warm.splice(0)) this.stopProc(p);
    for (const s of this.slots) if (s.gen !== this.gen) this.cancelSlot(s);
    this.refill();
    return this.gen;
  }

  // ---- scale to zero ----

  /** A client request on an open session: the deployment is in use. */
  protected touched(): void {
    const now = Date.now();
    this.lastRequestAt = now;
    this.lastActivityAt = now;
  }

  /** When the endpoint will scale to zero if nothing comes; null when it will not (no scale, sessions open, asleep). */
  protected idleAt(): number | null {
    if (!this.opts.scale || this.asleep || this.closing || this.inUse() > 0) return null;
    return this.lastActivityAt + this.opts.scale.idleMs;
  }

  /** (Re)arm the scale-to-zero check; called when the last session ends and at start. */
  protected armIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const at = this.idleAt();
    if (at === null) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      const due = this.idleAt();
      if (due === null) return;
      if (due > Date.now()) this.armIdle();
      else this.sleep();
    }, Math.max(1, at - Date.now()));
    this.idleTimer.unref();
  }

  private sleep(): void {
    this.asleep = true;
    this.demand.reset();
    for (const p of this.warm.splice(0)) this.stopProc(p);
    for (const s of this.slots) this.cancelSlot(s);
    this.opts.log?.(`bridge ${this.opts.deploymentId}: no session for ${this.opts.scale?.idleMs} ms; stopped the warm pool (scaled to zero)`);
    this.opts.events?.onIdle?.();
  }

  protected poolGaveUpOn(why: string): void {
    for (const w of this.waiters.splice(0)) w.reject(new BerthError('UPSTREAM_UNAVAILABLE', `MCP server unavailable: ${why}`));
  }

  /** Stop everything the pool owns (closing). */
  protected closePool(): void {
    this.closing = true;
    for (const t of [this.refillTimer, this.refillDeferred, this.shrinkTimer, this.idleTimer]) if (t) clearTimeout(t);
    this.refillTimer = this.refillDeferred = this.shrinkTimer = this.idleTimer = null;
    for (const w of this.waiters.splice(0)) w.reject(new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closing'));
    for (const p of this.warm.splice(0)) this.stopProc(p);
    for (const s of this.slots) this.cancelSlot(s);
    for (const p of [...this.active, ...this.probes]) this.stopProc(p);
  }

  /** Resolves when every pool process being started has settled and every stop has finished (after closePool). */
  protected async poolSettled(): Promise<void> {
    await Promise.all([...this.slots].map((s) => s.done));
    await Promise.all([...this.stops]);
  }
}
