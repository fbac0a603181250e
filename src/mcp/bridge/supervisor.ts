import type { ExitInfo } from '../../core/process.js';
import type { BridgeOptions } from '../types.js';
import type { JsonRpcMessage } from '../wire/jsonrpc.js';
import { isResponse } from '../wire/jsonrpc.js';
import { LATEST_PROTOCOL_VERSION } from '../wire/http.js';
import { Upstream, describeExit } from './upstream.js';

export type SupervisorState = 'idle' | 'starting' | 'ready' | 'backoff' | 'gaveup' | 'closed';

export interface SupervisorHooks {
  /** Any upstream message except the handshake's own response. */
  onMessage(msg: JsonRpcMessage): void;
  /** The process answered initialize; requests may flow. */
  onReady(up: Upstream): void;
  /** The current process exited (crash or stop). Runs before any restart is scheduled. */
  onExit(up: Upstream, exit: ExitInfo): void;
  /** Restarting was abandoned (too many crashes). */
  onGaveUp(reason: string): void;
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

  constructor(
    private readonly opts: BridgeOptions,
    private readonly hooks: SupervisorHooks,
  ) {}

  get ready(): boolean {
    return this.state === 'ready' && this.up !== null;
  }

  /** Start if nothing is running or being started. */
  ensureRunning(): void {
    if (this.state === 'idle') void this.launch();
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
    const prev = this.state;
    this.state = 'closed';
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.settleWaiters(new Error('bridge closed'), false);
    const up = this.up;
    if (up && prev !== 'closed') await up.stop(graceMs);
  }

  private log(line: string): void {
    this.opts.log?.(`bridge ${this.opts.deploymentId}: ${line}`);
  }

  private async launch(): Promise<void> {
    this.state = 'starting';
    let up: Upstream;
    try {
      const proc = await this.opts.spawn(INSTANCE_KEY);
      up = new Upstream(proc, INSTANCE_KEY, {
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
      this.log(`handshake failed: ${err instanceof Error ? err.message : String(err)}`);
      // The exit handler turns this into a crash (and a restart).
      if (up.alive) void up.proc.stop(this.opts.timing?.stopGraceMs);
      return;
    }
    if (this.up !== up || (this.state as SupervisorState) !== 'starting') return;
    up.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    this.state = 'ready';
    this.log(`process ${up.pid} ready`);
    this.opts.events?.onProcessReady?.({ pid: up.pid, instanceKey: INSTANCE_KEY });
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
          capabilities: {},
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
    this.hooks.onMessage(m);
  }

  private onExit(up: Upstream, exit: ExitInfo): void {
    const expected = up.stopping;
    this.opts.events?.onProcessExit?.({ pid: up.pid, instanceKey: INSTANCE_KEY, exit, expected });
    if (up !== this.up) return;
    this.up = null;
    const hs = this.handshake;
    this.handshake = null;
    hs?.reject(new Error(`process exited (${describeExit(exit)})`));
    this.hooks.onExit(up, exit);
    if (this.state === 'closed') return;
    this.log(`process ${up.pid} exited (${describeExit(exit)})`);
    this.attemptFailed(`process exited (${describeExit(exit)})`);
  }

  /** A start attempt failed or a running process died: back off and retry, or give up. */
  private attemptFailed(reason: string): void {
    if (this.state === 'closed') return;
    this.settleWaiters(new Error(reason), true);
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
