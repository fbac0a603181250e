import type { ToolSummary } from '../../core/index.js';
import { BerthError } from '../../core/errors.js';
import type { SpawnProcess } from '../types.js';
import type { JsonRpcErrorObject } from '../wire/jsonrpc.js';
import { SESSION_NOT_FOUND, errorResponse } from '../wire/jsonrpc.js';
import { LATEST_PROTOCOL_VERSION } from '../wire/http.js';
import { collectTools } from './probe.js';
import { IsolatedProcesses } from './isolated-pool.js';
import type { S } from './isolated-pool.js';

/** How long sessions on a previous revision's processes may go on after swap() when the caller names no drainMs. */
export const DEFAULT_DRAIN_MS = 5 * 60_000;

/** Isolated mode across revisions: checking a revision's process, moving the pool to it, draining older sessions. */
export abstract class IsolatedRevisions extends IsolatedProcesses {
  /** The server's initialize result (server/discover, serverInfo on results): the latest revision's. */
  protected cached: Record<string, unknown> | null = null;
  /** Drain timers of swaps (sessions still on an older revision's processes end when one fires). */
  private readonly drains = new Set<NodeJS.Timeout>();

  /** End a session (call, listen stream) still on an older revision when its drain time ran out. */
  protected abstract endDrained(session: S, error: JsonRpcErrorObject): void;

  protected ownInitParams(): Record<string, unknown> {
    return { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'berth', version: this.opts.version ?? '0.1.0' } };
  }

  /** A process of `spawn` of its own: initialize, initialized, tools/list; then it stops. */
  protected async check(spawn: SpawnProcess, timeoutMs: number): Promise<{ init: Record<string, unknown>; tools: ToolSummary[] }> {
    const deadline = Date.now() + timeoutMs;
    const left = (): number => {
      const ms = deadline - Date.now();
      if (ms <= 0) throw new Error('probe timed out');
      return ms;
    };
    const proc = await this.spawnProc('probe', spawn);
    try {
      const init = await this.internal(proc, 'initialize', this.ownInitParams(), left());
      proc.up.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      const tools = await collectTools((params) => this.internal(proc, 'tools/list', params, left()));
      return { init, tools };
    } finally {
      this.stopProc(proc);
    }
  }

  /**
   * Move to a new revision (see IsolatedBridge.swap): a process of `spawn` must start and answer initialize and
   * tools/list first; then the pool is refilled from it and older sessions have `drainMs` left.
   */
  async swap(spawn: SpawnProcess, opts: { drainMs?: number } = {}): Promise<{ tools: ToolSummary[] }> {
    const drainMs = opts.drainMs ?? DEFAULT_DRAIN_MS;
    if (!Number.isFinite(drainMs) || drainMs < 0) throw new BerthError('VALIDATION_FAILED', 'drainMs must be a non-negative number of milliseconds');
    if (this.closing) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closing');
    const limit = this.handshakeLimitMs();
    let checked: { init: Record<string, unknown>; tools: ToolSummary[] };
    try {
      checked = await this.check(spawn, limit);
    } catch (err) {
      throw new BerthError('UPSTREAM_UNAVAILABLE', `The new revision's MCP server failed to start: ${err instanceof Error ? err.message : String(err)}; the current one keeps serving`);
    }
    if (this.closing) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closing');
    this.cached = checked.init;
    const gen = this.adoptSpawn(spawn);
    const timer = setTimeout(() => {
      this.drains.delete(timer);
      this.drain(gen, drainMs);
    }, drainMs);
    timer.unref();
    this.drains.add(timer);
    return { tools: checked.tools };
  }

  /** End what still runs on processes older than generation `gen` (a swap's drain time is over). */
  private drain(gen: number, drainMs: number): void {
    const message = `The deployment moved to a new revision and this session's drain time (${drainMs} ms) ran out; start a new session`;
    const data = { code: 'SESSION_DRAINED' };
    let ended = 0;
    for (const proc of [...this.active]) {
      const session = proc.session;
      if (proc.gen >= gen || !session || session.ended) continue;
      ended++;
      this.endPending(proc, (id) => errorResponse(id, SESSION_NOT_FOUND, message, data));
      this.endDrained(session, { code: SESSION_NOT_FOUND, message, data });
    }
    if (ended > 0) this.opts.log?.(`bridge ${this.opts.deploymentId}: ended ${ended} session(s) still on the previous revision after the ${drainMs} ms drain`);
  }

  protected stopDrains(): void {
    for (const t of this.drains) clearTimeout(t);
    this.drains.clear();
  }
}
