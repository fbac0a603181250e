/**
 * A channel to a remote that speaks the legacy HTTP+SSE transport (2024-11-05): one `GET` event
 * stream is one remote session. Its first `endpoint` event names the URL to POST messages to;
 * every answer, notification and server request arrives as a `message` event on the stream.
 * The stream closing ends the channel (the bridge sees a process exit).
 */
import { UPSTREAM_UNAVAILABLE, errorResponse, isRequest } from '../wire/jsonrpc.js';
import type { JsonRpcMessage } from '../wire/jsonrpc.js';
import { RemoteChannel, Sequencer, type ChannelLog } from './channel.js';
import { contentType, errorText, messagesIn, readEvents, rpcErrorIn, type RemoteHttp } from './wire.js';

export interface SseChannelOptions {
  http: RemoteHttp;
  key: string;
  log?: ChannelLog;
  /** Longest wait for the stream's `endpoint` event. */
  connectTimeoutMs: number;
}

/** Opens the event stream and resolves once the remote named its message URL. */
export async function openSseChannel(opts: SseChannelOptions): Promise<RemoteChannel> {
  const channel = new SseChannel(opts);
  await channel.connect(opts.connectTimeoutMs);
  return channel;
}

class SseChannel extends RemoteChannel {
  private readonly http: RemoteHttp;
  private readonly stream = new AbortController();
  private readonly inflight = new Set<AbortController>();
  private readonly order = new Sequencer();
  private messagePath: string | null = null;

  constructor(opts: SseChannelOptions) {
    super(opts.key, opts.log);
    this.http = opts.http;
  }

  connect(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!err) return resolve();
        this.finish(1);
        reject(err);
      };
      const timer = setTimeout(() => settle(new Error(`the remote sent no endpoint event within ${timeoutMs} ms`)), timeoutMs);
      const run = async (): Promise<void> => {
        const res = await this.http.request({ method: 'GET', headers: { accept: 'text/event-stream' }, signal: this.stream.signal });
        if (res.statusCode !== 200 || !contentType(res).startsWith('text/event-stream')) {
          const text = await res.body.text().catch(() => '');
          throw new Error(`the SSE stream was refused: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
        }
        await readEvents(res, (e) => {
          if (e.event === 'endpoint') {
            if (this.messagePath !== null) return;
            const path = this.http.sameOriginPath(e.data.trim());
            if (path === undefined) return settle(new Error(`the endpoint event names a URL on another origin (${e.data.slice(0, 200)}); refused`));
            this.messagePath = path;
            return settle(null);
          }
          if (e.event === 'message') for (const m of messagesIn(e.data)) this.emit(m);
        });
        if (!settled) settle(new Error('the SSE stream ended before its endpoint event'));
        else this.finish(1, 'the remote closed the SSE stream');
      };
      run().catch((err: unknown) => {
        if (!settled) settle(new Error(errorText(err)));
        else if (!this.closed) this.finish(1, `the SSE stream failed: ${errorText(err)}`);
      });
    });
  }

  protected receive(msg: JsonRpcMessage): void {
    const path = this.messagePath;
    if (path === null) return;
    const ac = new AbortController();
    this.inflight.add(ac);
    void this.order.run(async () => {
      try {
        if (this.closed) return;
        const res = await this.http.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(msg), signal: ac.signal });
        const text = await res.body.text();
        if (res.statusCode === 404) this.finish(1, 'the remote no longer knows this SSE session (HTTP 404)');
        else if (res.statusCode >= 400) this.refused(msg, `the remote answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`, rpcErrorIn(text)?.code);
      } catch (err) {
        if (!this.closed) this.refused(msg, `the remote is unreachable: ${errorText(err)}`);
      } finally {
        this.inflight.delete(ac);
      }
    });
  }

  protected teardown(): void {
    this.stream.abort();
    for (const ac of this.inflight) ac.abort();
    this.inflight.clear();
  }

  private refused(msg: JsonRpcMessage, why: string, code = UPSTREAM_UNAVAILABLE): void {
    if (isRequest(msg)) this.emit(errorResponse(msg.id, code, why));
    else this.log(`remote channel ${this.key}: a message was not delivered: ${why}`);
  }
}
