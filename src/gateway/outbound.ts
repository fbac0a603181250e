import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { OutboundPressure } from '../mcp/types.js';

/**
 * Bounds on what Berth holds for clients that do not read (docs/adr/0016-bounded-client-writes.md).
 * Every response the HTTP server makes is a `GuardedResponse`: its `write` and `end` are the one
 * bounded-write helper for every writer (SSE streams, POST answers, legacy SSE, listen streams, the url
 * proxy, the API's log stream), so none can forget it.
 */
export interface OutboundLimits {
  /**
   * A response that is more than this many bytes behind when something is written to it again is cut off.
   * The largest single message written since it fell behind is allowed on top (it may still be on its way
   * to a client that reads at full speed: node sees no progress until a write completes).
   */
  maxPendingBytes: number;
  /** A response that has not drained this long after it fell behind is cut off. */
  drainTimeoutMs: number;
  /**
   * Bytes held for all clients together. Above it the pressure is high: servers' stdout is not read, and
   * responses that made no progress since the last check are cut off; it is low again below half of it.
   */
  budgetBytes: number;
}

export type CutReason = 'buffer' | 'drain' | 'pressure';

export interface CutInfo {
  /** What the response was for: `deployment ID`, or the request's method and path. Never a session id. */
  label: string;
  /** The deployment the response belonged to, when the gateway said so. */
  deploymentId: string | null;
  reason: CutReason;
  /** Bytes it had not taken. */
  pendingBytes: number;
}

/** What the guard keeps per response (fields of GuardedResponse; the class itself is made per guard). */
interface Tracked extends ServerResponse {
  deploymentId: string | null;
  /** When it fell behind (0: it is not). */
  behindSince: number;
  /** Its pending bytes as last counted in the guard's total. */
  counted: number;
  /** Pending bytes at the last check (-1: not checked yet this time behind). */
  checked: number;
  /** The largest single write since it fell behind: one message of any size may be on its way on top of the cap. */
  largest: number;
  /** Its 'drain' / 'finish' listener while it is behind (made the first time it falls behind). */
  drained: (() => void) | null;
}

const INSPECT_PATH = 80;

/** Tracks responses that fell behind, cuts off the ones past a limit, and reports the pressure of them all. */
export class OutboundGuard implements OutboundPressure {
  /** The class to give `http.createServer({ ServerResponse })`. */
  readonly Response: typeof ServerResponse;
  private readonly behind = new Set<Tracked>();
  private total = 0;
  private pressured = false;
  private readonly listeners = new Set<(high: boolean) => void>();
  private ticker: NodeJS.Timeout | null = null;
  private readonly tickMs: number;
  /** The response being written on each connection (for the idle timeout's decision). */
  private readonly current = new WeakMap<Socket, ServerResponse>();

  constructor(
    private readonly limits: OutboundLimits,
    private readonly onCut: (info: CutInfo) => void,
    private readonly now: () => number = Date.now,
  ) {
    for (const [k, v] of Object.entries(limits)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new Error(`outbound.${k} must be a positive integer, got ${String(v)}`);
    }
    this.tickMs = Math.max(20, Math.min(1000, Math.floor(limits.drainTimeoutMs / 4)));
    this.Response = guardedResponseClass(this);
  }

  get high(): boolean {
    return this.pressured;
  }

  /** Bytes held for clients that fell behind (as of the last write or check). */
  get pendingBytes(): number {
    return this.total;
  }

  subscribe(listener: (high: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Name the deployment a response belongs to (for the log line when it is cut off). */
  forDeployment(res: ServerResponse, id: string): void {
    if (isTracked(res)) res.deploymentId = id;
  }

  /** The response in progress on a connection, if any (null once it has finished). */
  responseOn(socket: Socket): ServerResponse | null {
    const res = this.current.get(socket);
    return res && !res.writableFinished && !res.destroyed ? res : null;
  }

  /** Stop the timer (Berth is closing). */
  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }

  // ---- called by GuardedResponse ----

  /** A request arrived on `socket`: `res` is the response in progress there (see responseOn). */
  opened(res: ServerResponse, socket: Socket): void {
    this.current.set(socket, res);
  }

  /** @internal Something more is to be written: the response is cut off if it is already too far behind. */
  admit(res: Tracked): void {
    if (!res.destroyed && res.writableLength > this.limits.maxPendingBytes + res.largest) this.cut(res, 'buffer');
  }

  /** @internal A write of `chunk` left data waiting (`write` returned false, or `end` could not flush). */
  fellBehind(res: Tracked, chunk: unknown): void {
    const size = typeof chunk === 'string' ? chunk.length : chunk instanceof Uint8Array ? chunk.byteLength : 0;
    if (size > res.largest) res.largest = size;
    if (res.behindSince === 0) {
      res.behindSince = this.now();
      res.checked = -1;
      this.behind.add(res);
      res.drained ??= () => this.settle(res);
      res.once('drain', res.drained);
      res.once('finish', res.drained);
      this.ticker ??= setInterval(() => this.check(), this.tickMs);
      this.ticker.unref();
    }
    this.count(res, res.writableLength);
  }

  /** @internal The response took everything (drain), finished, or closed. */
  settle(res: Tracked): void {
    if (res.behindSince === 0) return;
    res.behindSince = 0;
    res.largest = 0;
    if (res.drained) {
      res.off('drain', res.drained);
      res.off('finish', res.drained);
    }
    this.behind.delete(res);
    this.count(res, 0);
  }

  private count(res: Tracked, pending: number): void {
    this.total += pending - res.counted;
    res.counted = pending;
    if (!this.pressured && this.total > this.limits.budgetBytes) this.setPressure(true);
    else if (this.pressured && this.total < this.limits.budgetBytes / 2) this.setPressure(false);
  }

  private setPressure(high: boolean): void {
    this.pressured = high;
    for (const l of [...this.listeners]) l(high);
  }

  /** The periodic check of responses that are behind: drained ones settle, late ones (and stalled ones under pressure) are cut. */
  private check(): void {
    const t = this.now();
    for (const res of [...this.behind]) {
      if (res.destroyed || res.writableFinished || res.writableLength === 0) {
        this.settle(res);
        continue;
      }
      const pending = res.writableLength;
      this.count(res, pending);
      if (t - res.behindSince >= this.limits.drainTimeoutMs) this.cut(res, 'drain');
      else if (this.pressured && res.checked !== -1 && pending >= res.checked) this.cut(res, 'pressure');
      else res.checked = pending;
    }
    if (this.behind.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  private cut(res: Tracked, reason: CutReason): void {
    const pendingBytes = res.writableLength;
    this.settle(res);
    res.destroy();
    this.onCut({ label: res.deploymentId ? `deployment ${res.deploymentId}` : describe(res.req), deploymentId: res.deploymentId, reason, pendingBytes });
  }
}

function isTracked(res: ServerResponse): res is Tracked {
  return 'behindSince' in res;
}

/** `GET /api/…` with control characters removed and the query left out (a legacy POST's query names its session). */
function describe(req: IncomingMessage | undefined): string {
  const path = (req?.url ?? '').split('?')[0]!.replace(/[^\x21-\x7e]/g, '?').slice(0, INSPECT_PATH);
  return `${(req?.method ?? '').replace(/[^A-Z]/g, '').slice(0, 10)} ${path}`;
}

function guardedResponseClass(guard: OutboundGuard): typeof ServerResponse {
  class GuardedResponse extends ServerResponse implements Tracked {
    deploymentId: string | null = null;
    behindSince = 0;
    counted = 0;
    checked = -1;
    largest = 0;
    drained: (() => void) | null = null;

    // A response that is (or was just) cut off is destroyed: node then drops what is written and hands any
    // callback an ERR_STREAM_DESTROYED, as for a client that went away.
    override write(...args: unknown[]): boolean {
      guard.admit(this);
      const ok = Reflect.apply(ServerResponse.prototype.write, this, args) as boolean;
      if (!this.destroyed && (!ok || this.behindSince !== 0)) guard.fellBehind(this, args[0]);
      return ok;
    }

    override end(...args: unknown[]): this {
      guard.admit(this);
      Reflect.apply(ServerResponse.prototype.end, this, args);
      if (!this.destroyed && !this.writableFinished && this.writableLength > 0) guard.fellBehind(this, args[0]);
      return this;
    }
  }
  // The generic construct signature of ServerResponse<Request> cannot be written for a subclass; node calls it with (req, options).
  return GuardedResponse as unknown as typeof ServerResponse;
}
