import type { ServerResponse } from 'node:http';
import { SSE_KEEPALIVE, sendJson, sseEvent, startSse } from './http.js';

const enum Mode {
  /** Nothing written yet: responses are collected for a plain JSON answer. */
  Pending,
  /** Headers for text/event-stream are out. */
  Sse,
  /** Finished or the client went away. */
  Done,
}

/** Where a bridge sends the answer (and related messages) of one client request. */
export interface Exchange {
  readonly open: boolean;
  /** Deliver a response to one of the exchange's requests. */
  respond(msg: object | string): void;
  /** Deliver a message related to one of its requests; false when it can no longer carry one. */
  notify(msg: object | string): boolean;
  /** A request will get no response (it was cancelled). */
  abandon(): void;
  /** End now; requests still waiting get no response. */
  abandonAll(): void;
}

/**
 * One POST that carried requests. Answers with `application/json` when every response is ready
 * before any related message; otherwise switches to `text/event-stream`, sends the related
 * messages and responses as events, and ends the stream when the last response is out.
 */
export class PostExchange implements Exchange {
  private mode = Mode.Pending;
  private collected: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  /** Called once when the exchange is over (answered, or the connection closed). */
  onDone: (() => void) | null = null;

  constructor(
    private readonly res: ServerResponse,
    /** Number of requests in the POST still awaiting a response. */
    private waiting: number,
    private readonly batch: boolean,
    sseAfterMs: number,
    /** Keepalive comment interval once the answer is an event stream. */
    private readonly keepaliveMs = 25_000,
  ) {
    res.on('close', () => this.finish());
    if (waiting > 0 && sseAfterMs > 0) {
      this.timer = setTimeout(() => this.switchToSse(true), sseAfterMs);
      this.timer.unref();
    }
  }

  get open(): boolean {
    return this.mode !== Mode.Done;
  }

  /** Deliver a response to one of this POST's requests. */
  respond(msg: object | string): void {
    if (this.mode === Mode.Done) return;
    const json = typeof msg === 'string' ? msg : JSON.stringify(msg);
    this.waiting--;
    if (this.mode === Mode.Pending) {
      this.collected.push(json);
      if (this.waiting <= 0) this.sendCollected();
      return;
    }
    this.res.write(sseEvent(json));
    if (this.waiting <= 0) this.endStream();
  }

  /** Deliver a message related to one of this POST's requests (progress, a server request). */
  notify(msg: object | string): boolean {
    if (this.mode === Mode.Done) return false;
    const json = typeof msg === 'string' ? msg : JSON.stringify(msg);
    this.switchToSse(false);
    this.res.write(sseEvent(json));
    return true;
  }

  /** A request of this POST will get no response (it was cancelled). */
  abandon(): void {
    if (this.mode === Mode.Done) return;
    this.waiting--;
    if (this.waiting > 0) return;
    if (this.mode === Mode.Pending && this.collected.length > 0) {
      this.sendCollected();
      return;
    }
    this.switchToSse(false);
    this.endStream();
  }

  /** End the exchange now; requests still waiting get no response (their session ended). */
  abandonAll(): void {
    if (this.mode === Mode.Done) return;
    this.waiting = 0;
    if (this.mode === Mode.Pending && this.collected.length > 0) {
      this.sendCollected();
      return;
    }
    this.switchToSse(false);
    this.endStream();
  }

  private switchToSse(keepalive: boolean): void {
    this.clearTimer();
    if (this.mode !== Mode.Pending) return;
    this.mode = Mode.Sse;
    startSse(this.res);
    if (keepalive) this.res.write(SSE_KEEPALIVE);
    if (this.keepaliveMs > 0) {
      this.keepalive = setInterval(() => this.res.write(SSE_KEEPALIVE), this.keepaliveMs);
      this.keepalive.unref();
    }
    for (const json of this.collected) this.res.write(sseEvent(json));
    this.collected = [];
  }

  private sendCollected(): void {
    const body = this.batch ? `[${this.collected.join(',')}]` : (this.collected[0] ?? '');
    this.collected = [];
    const res = this.res;
    this.finish();
    sendJson(res, 200, body);
  }

  private endStream(): void {
    const res = this.res;
    this.finish();
    res.end();
  }

  private finish(): void {
    if (this.mode === Mode.Done) return;
    this.mode = Mode.Done;
    this.clearTimer();
    this.clearKeepalive();
    this.collected = [];
    const cb = this.onDone;
    this.onDone = null;
    cb?.();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private clearKeepalive(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = null;
  }
}
