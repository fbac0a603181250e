import { hostname } from 'node:os';
import { BerthError } from '../core/errors.js';
import type { Lease, LeaseHolder } from '../store/lease/types.js';

export type Role = 'leader' | 'standby';

export interface LeadershipDeps {
  lease: Lease;
  /** What runs only while the lease is held: `suspend` when the lease is lost, `start` again when it is won back. */
  reconciler: { start(): Promise<void>; suspend(): Promise<void> };
  /** How long a standby waits between tries. */
  retryMs: number;
  log: {
    info(msg: string, fields?: Record<string, unknown>): void;
    warn(msg: string, fields?: Record<string, unknown>): void;
    error(msg: string, fields?: Record<string, unknown>): void;
  };
}

/**
 * Leader or standby. The leader holds the store's reconciler lease and runs the reconciler (and so the
 * servers); a standby serves the API (desired state is in the shared store), refuses MCP traffic with
 * STANDBY, and tries for the lease every `retryMs`. A leader that loses the lease stops its reconciler
 * (and its servers) at once and becomes a standby.
 */
export class Leadership {
  readonly #deps: LeadershipDeps;
  #role: Role = 'standby';
  #started = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #leader: LeaseHolder | null = null;
  /** The leader last logged, so a standby says it once per leader, not every try. */
  #announced: string | null = null;
  /** Start and shutdown of the reconciler, one after the other. */
  #transition: Promise<void> = Promise.resolve();

  constructor(deps: LeadershipDeps) {
    this.#deps = deps;
    deps.lease.onLost((reason) => this.#lost(reason));
  }

  get role(): Role {
    return this.#role;
  }

  /** True once started and not leading: reconcile passes and MCP traffic belong to the leader. */
  get standby(): boolean {
    return this.#started && this.#role === 'standby';
  }

  /** The holder last seen while standby (null when unknown). */
  get leader(): LeaseHolder | null {
    return this.#role === 'leader' ? null : this.#leader;
  }

  /** First try for the lease; resolves with the role it gave. The reconciler starts in the background. */
  async start(): Promise<Role> {
    this.#started = true;
    await this.#try();
    return this.#role;
  }

  /** The error MCP requests get on a standby, naming the leader when known. */
  standbyError(): BerthError {
    const h = this.#leader;
    const who = h ? `the Berth at pid ${h.pid} on ${h.host}${h.started_at ? ` (leading since ${h.started_at})` : ''}` : 'another Berth';
    return new BerthError(
      'STANDBY',
      `This Berth (pid ${process.pid} on ${hostname()}) is a standby: ${who} holds the reconciler lease for this store. ` +
        'The process runtime runs servers inside the Berth that started them: send MCP traffic to the leader. ' +
        'This Berth takes over if the leader stops.',
      { leader: h },
    );
  }

  /** Berth is stopping: no more tries. The caller then shuts the reconciler down and calls `release`. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Gives the lease up; call after the reconciler has shut down. */
  async release(): Promise<void> {
    await this.#deps.lease.release();
  }

  async #try(): Promise<void> {
    if (this.#closed || this.#role === 'leader') return;
    let got = false;
    try {
      got = await this.#deps.lease.acquire();
    } catch (err) {
      this.#deps.log.warn('cannot reach the reconciler lease; staying standby', { error: String(err) });
    }
    if (this.#closed && got) {
      await this.#deps.lease.release();
      return;
    }
    if (got) {
      this.#lead();
      return;
    }
    const before = this.#announced;
    this.#leader = await this.#deps.lease.holder().catch(() => null);
    this.#announced = this.#leader ? `${this.#leader.pid}@${this.#leader.host}` : 'unknown';
    if (before !== this.#announced) this.#deps.log.info('standby: another Berth holds the reconciler lease', { leader: this.#leader ?? 'unknown' });
    this.#schedule();
  }

  #lead(): void {
    this.#role = 'leader';
    this.#leader = null;
    this.#announced = null;
    this.#deps.log.info('leader: holding the reconciler lease; starting the reconciler');
    this.#transition = this.#transition.then(() =>
      this.#deps.reconciler.start().catch((err: unknown) => this.#deps.log.error('reconciler failed to start', { error: String(err) })),
    );
  }

  #lost(reason: string): void {
    if (this.#role !== 'leader') return;
    this.#role = 'standby';
    this.#deps.log.error('lost the reconciler lease: stopping the reconciler and its servers, now a standby', { reason });
    // At once, not after a start still in progress: that start sees the shutdown and ends early.
    const stopping = this.#deps.reconciler.suspend().catch((err: unknown) => this.#deps.log.error('reconciler suspend failed', { error: String(err) }));
    // The next try comes after the retry interval: the other Berths get the first chance at the lease.
    this.#transition = Promise.all([this.#transition, stopping]).then(() => this.#schedule());
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#try();
    }, this.#deps.retryMs);
    this.#timer.unref();
  }
}
