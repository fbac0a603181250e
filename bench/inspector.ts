import { WebSocket } from 'undici';

/**
 * A tiny Chrome DevTools Protocol client for a Node process started with `--inspect=127.0.0.1:0`:
 * enough to force a full GC and read heap usage from outside the process.
 */
export class InspectorClient {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (ev) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
      const w = msg.id === undefined ? undefined : this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id!);
      clearTimeout(w.timer);
      if (msg.error) w.reject(new Error(msg.error.message));
      else w.resolve(msg.result);
    });
    ws.addEventListener('close', () => {
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error('inspector connection closed'));
      }
      this.waiting.clear();
    });
  }

  /** Connect to the `ws://…` address a process printed in "Debugger listening on …". */
  static async connect(url: string, timeoutMs = 5000): Promise<InspectorClient> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector ${url} did not answer within ${timeoutMs} ms`)), timeoutMs);
      ws.addEventListener('open', () => (clearTimeout(timer), resolve()));
      ws.addEventListener('error', () => (clearTimeout(timer), reject(new Error(`cannot connect to inspector ${url}`))));
    });
    return new InspectorClient(ws);
  }

  /** The inspector address in a process's stderr, if it printed one. */
  static urlIn(output: string): string | undefined {
    return /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
  }

  call<T>(method: string, params: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${method} timed out`));
      }, timeoutMs);
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Two full collections (the second picks up what finalizers of the first released). */
  async collectGarbage(): Promise<void> {
    await this.call('HeapProfiler.collectGarbage');
    await this.call('HeapProfiler.collectGarbage');
  }

  /** V8 heap in use, KiB. */
  async heapUsedKb(): Promise<number> {
    const r = await this.call<{ usedSize: number }>('Runtime.getHeapUsage');
    return r.usedSize / 1024;
  }

  close(): void {
    this.ws.close();
  }
}
