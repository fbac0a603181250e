import type { ToolSummary } from '../../core/index.js';
import { BerthError } from '../../core/errors.js';
import type { ScaleKeeper } from './scale.js';
import type { ListRequest } from './snapshot.js';
import { changedLists, learnSnapshot, toolSummaries } from './snapshot.js';
import type { Supervisor, SupervisorOptions } from './supervisor.js';
import type { ServerSnapshot, SpawnProcess } from '../types.js';

/** What a blue-green swap needs from its shared bridge. */
export interface SwapHost {
  /** A supervisor wired to the bridge (its messages, exits, readiness). */
  supervisor(o: SupervisorOptions): Supervisor;
  /** A request to one generation's process, not tied to a client. */
  request(sup: Supervisor): ListRequest;
  closing(): boolean;
  /** Fail the requests that went to a generation (a candidate that failed). */
  fail(sup: Supervisor, message: string): void;
  /** Requests bound to `old` and not yet written go to `cand` (and are written). */
  moveUnsent(old: Supervisor, cand: Supervisor): void;
  /** Place the resource subscriptions held by clients on `sup`'s process. */
  resubscribe(sup: Supervisor): Promise<unknown>;
  readonly scale: ScaleKeeper;
  announce(method: string): void;
  log(line: string): void;
}

/**
 * A shared bridge's process generations: the active one (new requests go to it) and swapped-out ones
 * finishing their requests in flight. A swap starts a trial generation, promotes it once it has answered
 * initialize and its listings, and stops the old one when its last request is answered (or at drainMs).
 */
export class Generations {
  active: Supervisor;
  /** A swap is under way (the process must not be stopped for idleness meanwhile). */
  swapping = false;
  private readonly draining = new Map<Supervisor, NodeJS.Timeout>();
  /** Pending requests per generation. */
  private readonly counts = new Map<Supervisor, number>();
  private seq = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: SwapHost,
    private readonly graceMs: number | undefined,
  ) {
    this.active = host.supervisor({});
  }

  /** Count a request in (+1) or out (−1) of a generation; a drained one with none left is stopped. */
  count(sup: Supervisor, delta: number): void {
    const n = (this.counts.get(sup) ?? 0) + delta;
    if (n > 0) this.counts.set(sup, n);
    else this.counts.delete(sup);
    if (n <= 0 && this.draining.has(sup)) this.stopDrained(sup);
  }

  /** Processes alive: the active one and those draining. */
  processes(): number {
    let n = this.active.up?.alive ? 1 : 0;
    for (const old of this.draining.keys()) if (old.up?.alive) n++;
    return n;
  }

  /** A generation's process exited: a drain is over. */
  exited(sup: Supervisor): void {
    const timer = this.draining.get(sup);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.draining.delete(sup);
  }

  /** Swaps run one after another. */
  swap(spawn: SpawnProcess, drainMs: number): Promise<{ tools: ToolSummary[] }> {
    const run = this.chain.then(() => this.run(spawn, drainMs));
    this.chain = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    const old = [...this.draining.keys()];
    for (const t of this.draining.values()) clearTimeout(t);
    this.draining.clear();
    await Promise.all([this.active.close(this.graceMs), ...old.map((s) => s.close(this.graceMs))]);
  }

  private async run(spawn: SpawnProcess, drainMs: number): Promise<{ tools: ToolSummary[] }> {
    const host = this.host;
    if (host.closing()) throw new BerthError('UPSTREAM_UNAVAILABLE', 'The endpoint is closing');
    this.swapping = true;
    const cand = host.supervisor({ spawn, instanceKey: `main-${++this.seq}`, trial: true });
    let next: ServerSnapshot;
    let prev: ServerSnapshot | null;
    try {
      await cand.start();
      [next, prev] = await Promise.all([learnSnapshot(cand.initResult ?? {}, host.request(cand), true), this.currentLists()]);
      if (host.closing()) throw new Error('the endpoint is closing');
      // Subscriptions held by sessions and listen streams move along.
      await host.resubscribe(cand);
    } catch (err) {
      this.swapping = false;
      const why = err instanceof Error ? err.message : String(err);
      host.log(`swap failed, the running process keeps serving: ${why}`);
      host.fail(cand, 'the new process failed');
      await cand.close(this.graceMs);
      host.scale.arm();
      throw new BerthError('UPSTREAM_UNAVAILABLE', `The new MCP server process failed: ${why}`);
    }
    this.promote(cand, drainMs);
    this.swapping = false;
    const scale = host.scale;
    if (!scale.snapshot) scale.snapshot = prev;
    scale.learned(next, true, true);
    if (!prev) for (const m of changedLists(null, next)) host.announce(m);
    scale.arm();
    return { tools: toolSummaries(next.tools) };
  }

  /** The listings of the process being swapped out: the snapshot, else asked from it (null if it cannot answer). */
  private async currentLists(): Promise<ServerSnapshot | null> {
    const known = this.host.scale.snapshot;
    if (known) return known;
    const old = this.active;
    if (!old.ready || !old.initResult) return null;
    return learnSnapshot(old.initResult, this.host.request(old)).catch(() => null);
  }

  /** New requests (and those not yet written) go to `cand`; the old generation drains, then stops. */
  private promote(cand: Supervisor, drainMs: number): void {
    const old = this.active;
    this.active = cand;
    cand.promote();
    old.retire();
    this.host.scale.awake();
    this.host.moveUnsent(old, cand);
    const left = this.counts.get(old) ?? 0;
    this.host.log(`swapped to process ${cand.up?.pid}; the previous one finishes ${left} request(s) in flight`);
    if (left === 0 || !old.up?.alive) {
      void old.close(this.graceMs);
      return;
    }
    const timer = setTimeout(() => this.stopDrained(old), drainMs);
    timer.unref();
    this.draining.set(old, timer);
  }

  /** A swapped-out generation has no requests left (or its drain time is up): stop it (SIGTERM). */
  private stopDrained(old: Supervisor): void {
    const timer = this.draining.get(old);
    if (timer !== undefined) clearTimeout(timer);
    this.draining.delete(old);
    void old.close(this.graceMs);
  }
}
