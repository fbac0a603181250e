/**
 * How many warm processes isolated mode should keep (src/mcp/README.md, "Isolated mode: the warm pool").
 *
 * The pool must hold what the opens arriving during one process start will take: the opens seen within the last
 * "start window" (twice the measured start time of a pool process, 250 ms to 5 s) is that number, whether
 * they came as a burst or as a steady rate (rate × start time). The peak of it is remembered, and decays by
 * half towards the floor (`isolated.warm`) for every quiet period without an open. The result is capped
 * (`isolated.max_warm`); the pool then also has to fit under `isolated.max` beside the processes in use.
 */

/** Start time assumed before a pool process has been measured. */
export const DEFAULT_START_MS = 300;
const MIN_WINDOW_MS = 250;
const MAX_WINDOW_MS = 5_000;
/** Weight of a new start-time sample in the moving average. */
const START_ALPHA = 0.3;

export interface PoolDemandOptions {
  /** Processes kept warm whatever the demand (while the deployment is awake). */
  floor: number;
  /** Most warm processes the demand may ask for. */
  cap: number;
  /** Without an open for this long, the demand above the floor halves (again each further period). */
  quietMs: number;
}

export class PoolDemand {
  /** Times of the latest opens (at most `cap` of them: more within a window count as `cap` anyway). */
  private readonly recent: number[] = [];
  private peak = 0;
  private lastOpenAt: number | null = null;
  private startEwmaMs = DEFAULT_START_MS;

  constructor(private readonly opts: PoolDemandOptions) {
    if (!Number.isInteger(opts.floor) || opts.floor < 0) throw new Error('the warm pool floor must be an integer >= 0');
    if (!Number.isInteger(opts.cap) || opts.cap < opts.floor) throw new Error('the warm pool cap must be an integer >= its floor');
    if (!(opts.quietMs > 0)) throw new Error('the warm pool quiet period must be positive');
  }

  /** The window in which opens count as arriving during one process start. */
  get windowMs(): number {
    return Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, 2 * this.startEwmaMs));
  }

  get startMs(): number {
    return this.startEwmaMs;
  }

  get lastOpen(): number | null {
    return this.lastOpenAt;
  }

  /** A pool process took `ms` from spawn to ready. */
  started(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.startEwmaMs = this.startEwmaMs + START_ALPHA * (ms - this.startEwmaMs);
  }

  /** A session, stateless call or listen stream asked for a process at `now`. */
  opened(now: number): void {
    this.peak = this.decayed(now);
    this.lastOpenAt = now;
    this.recent.push(now);
    const from = now - this.windowMs;
    while (this.recent.length > 0 && (this.recent[0]! < from || this.recent.length > this.opts.cap)) this.recent.shift();
    this.peak = Math.max(this.peak, this.recent.length);
  }

  /** Warm processes wanted at `now` (floor ≤ target ≤ cap). */
  target(now: number): number {
    return Math.min(this.opts.cap, Math.max(this.opts.floor, this.decayed(now)));
  }

  /** When the target will next fall (a quiet period ends), or null when it is at the floor. */
  nextDropAt(now: number): number | null {
    if (this.lastOpenAt === null || this.decayed(now) <= this.opts.floor) return null;
    const periods = Math.floor((now - this.lastOpenAt) / this.opts.quietMs) + 1;
    return this.lastOpenAt + periods * this.opts.quietMs;
  }

  /** Forget the demand (the deployment went idle): the next open starts from the floor. */
  reset(): void {
    this.recent.length = 0;
    this.peak = 0;
  }

  private decayed(now: number): number {
    if (this.lastOpenAt === null) return this.peak;
    const periods = Math.floor(Math.max(0, now - this.lastOpenAt) / this.opts.quietMs);
    let p = this.peak;
    for (let i = 0; i < periods && p > this.opts.floor; i++) p = this.opts.floor + Math.floor((p - this.opts.floor) / 2);
    return p;
  }
}
