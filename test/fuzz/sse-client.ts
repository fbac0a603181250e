/**
 * A long-lived SSE reader for the legacy HTTP+SSE transport (`GET BASE/sse`): collects the
 * `endpoint` event, hands every `message` event to waiters (by id) or to a watcher.
 */
import type { Pool } from 'undici';

export interface SseMessage {
  event: string;
  data: string;
}

export class LegacyStream {
  /** The POST URL the server named in its `endpoint` event. */
  messagePath = '';
  /** Problems seen on the stream (bad events, unexpected messages). */
  readonly problems: string[] = [];
  closed = false;
  private readonly waiters = new Map<string, (m: Record<string, unknown>) => void>();
  private abort: (() => void) | null = null;
  private done: Promise<void> = Promise.resolve();

  private constructor(private readonly watch: (m: unknown, raw: string) => string | null) {}

  /**
   * Open `GET base/sse` and wait for the endpoint event. `watch` sees every message first and returns
   * a problem description (or null); messages with an id then go to whoever waits for that id.
   */
  static async open(pool: Pool, base: string, watch: (m: unknown, raw: string) => string | null, timeoutMs = 30_000): Promise<LegacyStream> {
    const s = new LegacyStream(watch);
    const ac = new AbortController();
    s.abort = () => ac.abort();
    const res = await pool.request({ method: 'GET', path: `${base}/sse`, headers: { accept: 'text/event-stream' }, signal: ac.signal, headersTimeout: timeoutMs, bodyTimeout: 0 });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new Error(`GET ${base}/sse: ${res.statusCode} ${text.slice(0, 300)}`);
    }
    let gotEndpoint: () => void = () => {};
    const endpoint = new Promise<void>((r) => (gotEndpoint = r));
    s.done = (async () => {
      let buf = '';
      try {
        for await (const chunk of res.body) {
          buf += (chunk as Buffer).toString('utf8');
          for (;;) {
            const i = buf.indexOf('\n\n');
            if (i === -1) break;
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = parseEvent(block);
            if (!ev) continue;
            if (ev.event === 'endpoint') {
              s.messagePath = ev.data;
              gotEndpoint();
            } else s.onMessage(ev);
          }
        }
      } catch {
        /* aborted or reset */
      } finally {
        s.closed = true;
        gotEndpoint();
      }
    })();
    await Promise.race([endpoint, new Promise((_r, rej) => setTimeout(() => rej(new Error('no endpoint event')), timeoutMs).unref())]);
    if (!s.messagePath) throw new Error(`GET ${base}/sse: stream closed before the endpoint event`);
    return s;
  }

  /** Resolves with the response carrying `id` (by idKey), or rejects after `timeoutMs`. */
  waitFor(id: unknown, timeoutMs: number): Promise<Record<string, unknown>> {
    const key = typeof id === 'number' ? `n:${id}` : `s:${String(id)}`;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`no answer to id ${JSON.stringify(id)} on the SSE stream within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, (m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  }

  async close(): Promise<void> {
    this.abort?.();
    await this.done;
  }

  private onMessage(ev: SseMessage): void {
    let m: unknown;
    try {
      m = JSON.parse(ev.data);
    } catch {
      this.problem(`SSE ${ev.event} event is not JSON: ${ev.data.slice(0, 200)}`);
      return;
    }
    const p = this.watch(m, ev.data);
    if (p) this.problem(p);
    if (typeof m !== 'object' || m === null || !('id' in m) || 'method' in m) return;
    const id = (m as { id: unknown }).id;
    const key = typeof id === 'number' ? `n:${id}` : `s:${String(id)}`;
    const w = this.waiters.get(key);
    if (w) {
      this.waiters.delete(key);
      w(m as Record<string, unknown>);
    }
  }

  private problem(p: string): void {
    if (this.problems.length < 20) this.problems.push(p);
  }
}

function parseEvent(block: string): SseMessage | null {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
  }
  return data.length === 0 ? null : { event, data: data.join('\n') };
}
