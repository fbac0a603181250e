import type { ExitInfo } from '../../core/process.js';
import type { BridgeOptions, SpawnProcess } from '../types.js';
import type { JsonRpcMessage } from '../wire/jsonrpc.js';
import { isResponse } from '../wire/jsonrpc.js';
import { LATEST_PROTOCOL_VERSION } from '../wire/http.js';
import { Upstream, describeExit } from './upstream.js';
import { SHARED_CLIENT_CAPABILITIES } from './shared-asks.js';

/** `sleeping`: Berth is stopping an idle process (scale to zero); it becomes `idle` when the process is gone. */
export type SupervisorState = 'idle' | 'starting' | 'ready' | 'sleeping' | 'backoff' | 'gaveup' | 'closed';

export interface SupervisorHooks {
  /** Any upstream message except the handshake's own response, with the process it came from. */
  onMessage(msg: JsonRpcMessage, up: Upstream): void;
  /** The process answered initialize; requests may flow. */
  onReady(up: Upstream): void;
  /** The current process exited (crash or stop). Runs before any restart is scheduled. */
  onExit(up: Upstream, exit: ExitInfo): void;
  /** Restarting was abandoned (too many crashes). */
  onGaveUp(reason: string): void;
  /**
   * An idle process Berth stopped (`sleep`) has exited. `waking`: requests came meanwhile, a new process
   * is being started now; else nothing runs until the next `ensureRunning`.
   */
  onSlept?(waking: boolean): void;
}

export interface SupervisorOptions {
  /** What to start (default: the bridge's spawn); a blue-green swap passes the new revision's. */
  spawn?: SpawnProcess;
  /** The runtime's instance key (pid file, logs); two processes of one bridge at once need two keys. */
  instanceKey?: string;
  /**
   * A trial (a swap's new process): the first failed attempt ends it (state `gaveup`, start() rejected with
   * the reason) with no restart and no onGaveUp event. `promote()` makes it a normal supervisor.
   */
  trial?: boolean;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
  /** start() waiters fail with the current attempt; request waiters wait across restarts. */
  attemptOnly: boolean;
}

const INSTANCE_KEY = 'main';

/**
 * Keeps the single process of a shared bridge running: spawn, initialize handshake, crash
 * detection, restart with exponential backoff, and giving up after too many crashes.
 */
export class Supervisor {
  state: SupervisorState = 'idle';
  up: Upstream | null = null;
  /** The process's InitializeResult from the last handshake. */
  initResult: Record<string, unknown> | null = null;
  private waiters: Waiter[] = [];
  private crashes: number[] = [];
  private restartTimer: NodeJS.Timeout | null = null;
  private handshakeSeq = 0;
  private handshake: { id: string; resolve(r: Record<string, unknown>): void; reject(e: Error): void } | null = null;
  private readonly spawn: SpawnProcess;
  readonly instanceKey: string;
  private trial: boolean;
  /** A request came while an idle process was being stopped: start again once it is gone. */
  private wake = false;

  constructor(
    private readonly opts: BridgeOptions,
    private readonly hooks: SupervisorHooks,
    sup: SupervisorOptions = {},
  ) {
    this.spawn = sup.spawn ?? opts.spawn;
    this.instanceKey = sup.instanceKey ?? INSTANCE_KEY;
    this.trial = sup.trial ?? false;
  }

  get ready(): boolean {
    return this.state === 'ready' && this.up !== null;
  }

  /** Start if nothing is running or being started; true when this call started a process. */
  ensureRunning(): boolean {
    if (this.state === 'sleeping') this.wake = true;
    if (this.state !== 'idle') return false;
    void this.launch();
    return true;
  }

  /** A trial that came up becomes the bridge's process: crashes now restart it. */
  promote(): void {
    this.trial = false;
  }

  /**
   * Scale to zero: stop the ready process (an expected exit, not a crash). The state is `idle` once it is
   * gone (`onSlept`); a request meanwhile (`ensureRunning`, `waitReady`) starts a new one right after.
   */
  sleep(graceMs?: number): void {
    const up = this.up;
    if (this.state !== 'ready' || !up) return;
    this.state = 'sleeping';
    this.log(`process ${up.pid} idle: stopping it`);
    void up.stop(graceMs);
  }

  /**
   * Swapped out: the process keeps serving the requests it has, but is never restarted; waiters (who want
   * any ready process) are released, since the bridge's new process is ready. Stop it with `close`.
   */
  retire(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.settleWaiters(null, false);
  }

  /** Resolves when a process is ready; rejects if this attempt fails. */
  start(): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.state === 'gaveup' || this.state === 'closed') return Promise.reject(new Error(`bridge is ${this.state}`));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject, attemptOnly: true });
      this.ensureRunning();
    });
  }

  /** Resolves when a process is ready (across restarts); rejects after `timeoutMs`, on give-up or close. */
  waitReady(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.state === 'gaveup' || this.state === 'closed') return Promise.reject(new Error(`bridge is ${this.state}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error('the MCP server did not become ready in time'));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
        attemptOnly: false,
      };
      this.waiters.push(waiter);
      this.ensureRunning();
    });
  }

  async close(graceMs?: number): Promise<void> {
    this.state = 'closed';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.settleWaiters(new Error('bridge closed'), false);
    const up = this.up;
    if (up?.alive) await up.stop(graceMs);
  }

  private log(line: string): void {
    this.opts.log?.(`bridge ${this.opts.deploymentId}: ${line}`);
  }

  private async launch(): Promise<void> {
    this.state = 'starting';
    let up: Upstream;
    const key = this.instanceKey;
    try {
      const proc = await this.spawn(key);
      up = new Upstream(proc, key, {
        maxLineBytes: this.opts.maxLineBytes,
        maxStdinBytes: this.opts.maxStdinBytes,
        pressure: this.opts.pressure,
        log: this.opts.log,
        onMessage: (m) => this.onMessage(up, m),
        onExit: (exit) => this.onExit(up, exit),
      });
    } catch (err) {
      this.attemptFailed(`spawn failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if ((this.state as SupervisorState) === 'closed') {
      void up.stop(this.opts.timing?.stopGraceMs);
      return;
    }
    this.up = up;
    try {
      this.initResult = await this.runHandshake(up);
    } catch (err) {
      const why = `handshake failed: ${err instanceof Error ? err.message : String(err)}`;
      this.log(why);
      if (this.trial && this.up === up) {
        // A trial ends here, with the handshake's own reason (not the exit it causes).
        this.up = null;
        if (up.alive) void up.stop(this.opts.timing?.stopGraceMs);
        this.attemptFailed(why);
        return;
      }
      // The exit handler turns this into a crash (and a restart).
      if (up.alive) void up.proc.stop(this.opts.timing?.stopGraceMs);
      return;
    }
    if (this.up !== up || (this.state as SupervisorState) !== 'starting') return;
    up.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.state = 'ready';
    this.log(`process ${up.pid} ready`);
    this.opts.events?.onProcessReady?.({ pid: up.pid, instanceKey: key });
    this.hooks.onReady(up);
    this.settleWaiters(null, false);
  }

  private runHandshake(up: Upstream): Promise<Record<string, unknown>> {
    const id = `berth-init-${++this.handshakeSeq}`;
    const limit = this.opts.timing?.handshakeTimeoutMs ?? Math.max(10_000, this.opts.limits.requestTimeoutMs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.handshake = null;
        reject(new Error(`no initialize answer within ${limit} ms`));
      }, limit);
      this.handshake = {
        id,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      up.send({
        jsonrpc: '2.0',
        id,
        method: 'initialize',
        params: {
          protocolVersion: LATEST_PROTOCOL_VERSION,
          capabilities: this.opts.clientFeatures === false ? {} : SHARED_CLIENT_CAPABILITIES,
          clientInfo: { name: 'berth', version: this.opts.version ?? '0.1.0' },
        },
      });
    });
  }

  private onMessage(up: Upstream, m: JsonRpcMessage): void {
    if (up !== this.up) return;
    const hs = this.handshake;
    if (hs && isResponse(m) && m.id === hs.id) {
      this.handshake = null;
      if ('error' in m) hs.reject(new Error(`initialize error ${m.error.code}: ${m.error.message}`));
      else if (typeof m.result === 'object' && m.result !== null) hs.resolve(m.result as Record<string, unknown>);
      else hs.reject(new Error('initialize result is not an object'));
      return;
    }
    this.hooks.onMessage(m, up);
  }

  private onExit(up: Upstream, exit: ExitInfo): void {
    const expected = up.stopping;
    this.opts.events?.onProcessExit?.({ pid: up.pid, instanceKey: up.instanceKey, exit, expected });
    if (up !== this.up) return;
    this.up = null;
    const hs = this.handshake;
    this.handshake = null;
    hs?.reject(new Error(`process exited (${describeExit(exit)})`));
    this.hooks.onExit(up, exit);
    if (this.state === 'closed') return;
    if (this.state === 'sleeping') {
      this.state = 'idle';
      this.log(`process ${up.pid} stopped (idle)`);
      const wake = this.wake || this.waiters.length > 0;
      this.wake = false;
      this.hooks.onSlept?.(wake);
      if (wake && (this.state as SupervisorState) === 'idle') void this.launch();
      return;
    }
    this.log(`process ${up.pid} exited (${describeExit(exit)})`);
    this.attemptFailed(`process exited (${describeExit(exit)})`);
  }

  /** A start attempt failed or a running process died: back off and retry, or give up. */
  private attemptFailed(reason: string): void {
    if (this.state === 'closed') return;
    this.settleWaiters(new Error(reason), true);
    if (this.trial) {
      this.state = 'gaveup';
      this.settleWaiters(new Error(reason), false);
      return;
    }
    const { initialDelayMs, maxDelayMs, maxCrashes, windowMs } = this.opts.restart;
    const now = Date.now();
    this.crashes = this.crashes.filter((t) => now - t < windowMs);
    this.crashes.push(now);
    if (this.crashes.length >= maxCrashes) {
      this.state = 'gaveup';
      const why = `gave up after ${this.crashes.length} crashes within ${windowMs} ms (last: ${reason})`;
      this.log(why);
      this.settleWaiters(new Error(why), false);
      this.hooks.onGaveUp(why);
      this.opts.events?.onGaveUp?.(why);
      return;
    }
    this.state = 'backoff';
    const delay = Math.min(maxDelayMs, initialDelayMs * 2 ** (this.crashes.length - 1));
    this.log(`restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.state === 'backoff') void this.launch();
    }, delay);
  }

  /** Resolve (err null) or reject waiters; with `attemptOnly`, only start() waiters are rejected. */
  private settleWaiters(err: Error | null, attemptOnly: boolean): void {
    const keep: Waiter[] = [];
    const settle: Waiter[] = [];
    for (const w of this.waiters) (attemptOnly && !w.attemptOnly ? keep : settle).push(w);
    this.waiters = keep;
    for (const w of settle) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }
}
