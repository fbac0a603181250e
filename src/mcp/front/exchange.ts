import type { ServerResponse } from 'node:http';
import { SSE_KEEPALIVE, sendJson, sseEvent, ssePriming, startSse } from '../wire/http.js';
import { eventId } from './replay.js';
import type { ReplayLog } from './replay.js';

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

/** What makes a POST's event stream resumable: the session's replay log, and whether to prime it. */
export interface ResumeHooks {
  /** The session's replay log (created on first use). */
  log(): ReplayLog;
  /** Open the stream with a priming event (id, empty data): the session negotiated 2025-11-25 or later. */
  readonly prime: boolean;
}

/**
 * One POST that carried requests. Answers with `application/json` when every response is ready
 * before any related message; otherwise switches to `text/event-stream`, sends the related
 * messages and responses as events, and ends the stream when the last response is out.
 *
 * With `resume` hooks (Streamable HTTP sessions) the event stream is resumable: its events carry
 * ids and go to the session's replay log. If the connection drops after the client saw an id and
 * before the last response, the exchange stays open without a connection: what follows is logged
 * for the client's `GET` with `Last-Event-ID`, which the transport replays and then `attach`es here.
 */
export class PostExchange implements Exchange {
  private mode = Mode.Pending;
  private collected: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  /** The connection carrying the stream; null while a resumable stream waits for its client. */
  private conn: ServerResponse | null;
  /** The stream's number in the replay log once the answer is an event stream (-1: none). */
  private stream = -1;
  /** An event id reached the connection, so the client can come back for the rest. */
  private resumable = false;
  /** Called once when the exchange is over (answered, or the connection closed for good). */
  onDone: (() => void) | null = null;

  constructor(
    res: ServerResponse,
    /** Number of requests in the POST still awaiting a response. */
    private waiting: number,
    private readonly batch: boolean,
    sseAfterMs: number,
    /** Keepalive comment interval once the answer is an event stream. */
    private readonly keepaliveMs = 25_000,
    private readonly resume: ResumeHooks | null = null,
  ) {
    this.conn = res;
    this.watch(res);
    if (waiting > 0 && sseAfterMs > 0) {
      this.timer = setTimeout(() => this.switchToSse(true), sseAfterMs);
      this.timer.unref();
    }
  }

  get open(): boolean {
    return this.mode !== Mode.Done;
  }

  /** Open, with a live connection (not waiting for the client to resume). */
  get connected(): boolean {
    return this.mode !== Mode.Done && this.conn !== null;
  }

  /** The stream's number in the session's replay log; -1 when it has none (yet). */
  get streamId(): number {
    return this.stream;
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
    this.emit(json);
    if (this.waiting <= 0) this.endStream();
  }

  /** Deliver a message related to one of this POST's requests (progress, a server request). */
  notify(msg: object | string): boolean {
    if (this.mode === Mode.Done) return false;
    const json = typeof msg === 'string' ? msg : JSON.stringify(msg);
    this.switchToSse(false);
    this.emit(json);
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

  /**
   * The client resumed this stream (GET with `Last-Event-ID`) and the transport has replayed what
   * it missed onto `res`: carry on live there. A connection still attached is replaced (ended).
   * False when the stream is not live any more (the caller ends `res`).
   */
  attach(res: ServerResponse): boolean {
    if (this.mode !== Mode.Sse) return false;
    const old = this.conn;
    this.conn = res;
    this.resumable = true;
    this.watch(res);
    this.clearKeepalive();
    this.startKeepalive();
    if (old && !old.writableEnded) old.end();
    return true;
  }

  private watch(res: ServerResponse): void {
    res.on('close', () => {
      if (this.conn !== res) return;
      this.conn = null;
      this.clearKeepalive();
      // The client can come back for the rest (spec: a disconnection is not a cancellation).
      if (this.mode === Mode.Sse && this.resumable && this.waiting > 0) return;
      this.finish();
    });
  }

  /** Write one message on the stream (and log it when the stream is resumable). */
  private emit(json: string): void {
    const conn = this.conn;
    if (this.stream < 0 || !this.resume) {
      conn?.write(sseEvent(json));
      return;
    }
    const id = this.resume.log().append(this.stream, json, conn !== null);
    if (!conn) return;
    conn.write(sseEvent(json, id));
    this.resumable = true;
  }

  private switchToSse(keepalive: boolean): void {
    this.clearTimer();
    if (this.mode !== Mode.Pending) return;
    const res = this.conn;
    if (!res) return;
    this.mode = Mode.Sse;
    startSse(res);
    if (this.resume) {
      this.stream = this.resume.log().newStream();
      if (this.resume.prime) {
        res.write(ssePriming(eventId(this.stream, 0)));
        this.resumable = true;
      }
    }
    if (keepalive) res.write(SSE_KEEPALIVE);
    this.startKeepalive();
    const collected = this.collected;
    this.collected = [];
    for (const json of collected) this.emit(json);
  }

  private sendCollected(): void {
    const body = this.batch ? `[${this.collected.join(',')}]` : (this.collected[0] ?? '');
    this.collected = [];
    const res = this.conn;
    this.finish();
    if (res) sendJson(res, 200, body);
  }

  private endStream(): void {
    const res = this.conn;
    this.finish();
    if (res && !res.writableEnded) res.end();
  }

  private finish(): void {
    if (this.mode === Mode.Done) return;
    this.mode = Mode.Done;
    this.clearTimer();
    this.clearKeepalive();
    this.collected = [];
    if (this.stream >= 0) this.resume?.log().close(this.stream);
    const cb = this.onDone;
    this.onDone = null;
    cb?.();
  }

  private startKeepalive(): void {
    if (this.keepaliveMs <= 0 || this.keepalive) return;
    this.keepalive = setInterval(() => this.conn?.write(SSE_KEEPALIVE), this.keepaliveMs);
    this.keepalive.unref();
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
