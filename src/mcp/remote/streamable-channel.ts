/**
 * A channel to a remote that speaks Streamable HTTP with sessions (2025-11-25 and older): used when a
 * client Berth serves speaks something the remote does not (a stateless 2026-07-28 client, or a
 * legacy HTTP+SSE client), so the bridge needs a session of its own with the remote.
 *
 * `initialize` opens the remote session (its `Mcp-Session-Id` is kept); every later message is a
 * POST in that session, answered with JSON or an event stream whose messages are handed over as
 * they arrive; a GET stream carries what the remote sends outside requests. Stopping the channel
 * ends the remote session with DELETE.
 */
import { LATEST_PROTOCOL_VERSION, SESSION_HEADER, VERSION_HEADER } from '../wire/http.js';
import { UPSTREAM_UNAVAILABLE, errorResponse, idKey, isNotification, isRequest, isResponse } from '../wire/jsonrpc.js';
import type { JsonRpcMessage } from '../wire/jsonrpc.js';
import { RemoteChannel, Sequencer, type ChannelLog } from './channel.js';
import { JSON_AND_SSE, contentType, errorText, headerOf, readMessages, rpcErrorIn, type RemoteHttp } from './wire.js';

export interface StreamableChannelOptions {
  http: RemoteHttp;
  key: string;
  log?: ChannelLog;
  /** Pause before a GET stream that ended is opened again. */
  reconnectMs?: number;
  /** Headers of this channel's own on every request (a group member link's relay credential), beside the pool's. */
  headers?: Record<string, string>;
}

export class StreamableChannel extends RemoteChannel {
  private readonly http: RemoteHttp;
  private readonly inflight = new Set<AbortController>();
  private readonly order = new Sequencer();
  private readonly reconnectMs: number;
  private readonly own: Record<string, string>;
  private sessionId: string | undefined;
  private version: string = LATEST_PROTOCOL_VERSION;
  private getStream: AbortController | null = null;
  private getTimer: NodeJS.Timeout | null = null;

  constructor(opts: StreamableChannelOptions) {
    super(opts.key, opts.log);
    this.http = opts.http;
    this.reconnectMs = opts.reconnectMs ?? 1000;
    this.own = opts.headers ?? {};
  }

  protected receive(msg: JsonRpcMessage): void {
    const ac = new AbortController();
    this.inflight.add(ac);
    // Everything after initialize waits for its answer's headers (they carry the session id); after
    // that messages leave side by side, so a slow call (or a remote that answers with plain JSON only
    // when done) holds up neither other calls nor their cancellation.
    const initialize = isRequest(msg) && msg.method === 'initialize';
    const headersIn = initialize ? this.order.run(() => this.post(msg, ac)) : this.order.after(() => this.post(msg, ac));
    void headersIn.then(
      (read) => read?.(),
      () => {},
    );
    if (isNotification(msg) && msg.method === 'notifications/initialized') void headersIn.finally(() => this.openGetStream());
  }

  protected teardown(): void {
    for (const ac of this.inflight) ac.abort();
    this.inflight.clear();
    this.getStream?.abort();
    if (this.getTimer) clearTimeout(this.getTimer);
    const sid = this.sessionId;
    if (sid === undefined) return;
    void this.http
      .request({ method: 'DELETE', headers: this.sessionHeaders(), signal: AbortSignal.timeout(5000) })
      .then((r) => r.body.dump())
      .catch(() => {});
  }

  private sessionHeaders(): Record<string, string> {
    const h: Record<string, string> = { ...this.own, [VERSION_HEADER]: this.version };
    if (this.sessionId !== undefined) h[SESSION_HEADER] = this.sessionId;
    return h;
  }

  /** POST one message; resolves when the answer's headers are in, with a function that reads its body. */
  private async post(msg: JsonRpcMessage, ac: AbortController): Promise<(() => Promise<void>) | null> {
    if (this.closed) return null;
    const initialize = isRequest(msg) && msg.method === 'initialize';
    // initialize opens the session: it carries this channel's own headers only (sessionHeaders has them too).
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: JSON_AND_SSE, ...(initialize ? this.own : this.sessionHeaders()) };
    let res;
    try {
      res = await this.http.request({ method: 'POST', headers, body: JSON.stringify(msg), signal: ac.signal });
    } catch (err) {
      this.inflight.delete(ac);
      if (!this.closed) this.refused(msg, `the remote is unreachable: ${errorText(err)}`);
      return null;
    }
    if (initialize) {
      const sid = headerOf(res, SESSION_HEADER);
      if (sid !== undefined) this.sessionId = sid;
    }
    return async () => {
      try {
        if (res.statusCode === 404 && this.sessionId !== undefined) {
          await res.body.dump();
          this.refused(msg, 'the remote session has expired');
          this.finish(1, 'the remote ended the session (HTTP 404)');
          return;
        }
        if (res.statusCode >= 400) {
          const text = await res.body.text();
          this.refused(msg, `the remote answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`, rpcErrorIn(text)?.code);
          return;
        }
        const ct = contentType(res);
        if (res.statusCode === 202 || !(ct.startsWith('application/json') || ct.startsWith('text/event-stream'))) {
          await res.body.dump();
          return;
        }
        let answered = !isRequest(msg);
        await readMessages(res, (m) => {
          if (isRequest(msg) && isResponse(m) && m.id !== null && idKey(m.id) === idKey(msg.id)) {
            answered = true;
            if (initialize && 'result' in m) this.noteVersion(m.result);
          }
          this.emit(m);
        });
        if (!answered && !this.closed) this.refused(msg, 'the remote closed the stream without answering');
      } catch (err) {
        if (!this.closed) this.refused(msg, `the remote answer broke off: ${errorText(err)}`);
      } finally {
        this.inflight.delete(ac);
      }
    };
  }

  private noteVersion(result: unknown): void {
    const v = (result as { protocolVersion?: unknown } | null)?.protocolVersion;
    if (typeof v === 'string') this.version = v;
  }

  /** The remote's stream for messages outside requests; 405 means it has none. */
  private openGetStream(): void {
    if (this.closed || this.getStream || this.sessionId === undefined) return;
    const ac = new AbortController();
    this.getStream = ac;
    const run = async (): Promise<'again' | 'done'> => {
      const res = await this.http.request({ method: 'GET', headers: { accept: 'text/event-stream', ...this.sessionHeaders() }, signal: ac.signal });
      if (res.statusCode === 404) {
        await res.body.dump();
        this.finish(1, 'the remote ended the session (HTTP 404 on its GET stream)');
        return 'done';
      }
      if (res.statusCode !== 200 || !contentType(res).startsWith('text/event-stream')) {
        await res.body.dump();
        return 'done';
      }
      await readMessages(res, (m) => this.emit(m));
      return 'again';
    };
    run()
      .catch(() => 'again' as const)
      .then((next) => {
        if (this.getStream === ac) this.getStream = null;
        if (next === 'again' && !this.closed) {
          this.getTimer = setTimeout(() => {
            this.getTimer = null;
            this.openGetStream();
          }, this.reconnectMs);
          this.getTimer.unref();
        }
      });
  }

  private refused(msg: JsonRpcMessage, why: string, code = UPSTREAM_UNAVAILABLE): void {
    if (isRequest(msg)) this.emit(errorResponse(msg.id, code, why));
    else this.log(`remote channel ${this.key}: a message was not delivered: ${why}`);
  }
}
