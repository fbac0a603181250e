/**
 * A workload that runs Berth's bridge program inside (a container, a local-http workload) seen as stdio processes:
 * each `spawn` opens a 2025 Streamable HTTP session with that bridge (`StreamableChannel`), which Berth's own
 * bridge (shared or isolated) then uses as its process. So the clients' sessions live in Berth, not in the
 * workload: a blue-green switch swaps the channel onto the next revision's workload and every session goes on,
 * exactly as a process swap does on the process runtime. Connections go to the workload's URL only.
 */
import type { SpawnProcess } from '../types.js';
import { exactOrigin } from './exact-origin.js';
import { StreamableChannel } from './streamable-channel.js';
import { RemoteHttp } from './wire.js';

export interface WorkloadChannelsOptions {
  /** The workload bridge's MCP endpoint (`http://127.0.0.1:PORT/mcp`). */
  url: string;
  /** Its per-workload bearer token. */
  headers: Record<string, string>;
  /** Longest wait for an answer's headers (the bridge inside answers within 10 s, with SSE for longer calls). */
  timeoutMs: number;
  log?: (line: string) => void;
}

export class WorkloadChannels {
  private readonly http: RemoteHttp;
  private readonly open = new Set<StreamableChannel>();
  private waiters: (() => void)[] = [];

  constructor(private readonly opts: WorkloadChannelsOptions) {
    this.http = new RemoteHttp(opts.url, opts.headers, opts.timeoutMs, exactOrigin(opts.url));
  }

  /** A new session with the workload's bridge, as a process for Berth's bridge. */
  readonly spawn: SpawnProcess = (key) => {
    const channel = new StreamableChannel({ http: this.http, key, log: this.opts.log });
    this.open.add(channel);
    void channel.exited.then(() => {
      this.open.delete(channel);
      if (this.open.size > 0) return;
      for (const w of this.waiters.splice(0)) w();
    });
    return Promise.resolve(channel);
  };

  /** Resolves once no channel is open (at once when none is): Berth's bridge has let go of the workload. */
  drained(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Closes the connections (after the channels are stopped). */
  close(): Promise<void> {
    return this.http.close();
  }
}
