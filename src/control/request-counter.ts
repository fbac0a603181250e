import type { DeploymentStore } from '../store/types.js';

/**
 * Counts gateway requests per deployment in memory and writes them to the store in batches,
 * so the hot path never waits on the database.
 */
export class RequestCounter {
  private pending = new Map<string, { count: number; lastAt: number }>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Pick<DeploymentStore, 'addRequests'>,
    private readonly flushEveryMs = 1000,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  hit(id: string): void {
    const p = this.pending.get(id);
    if (p) {
      p.count++;
      p.lastAt = Date.now();
    } else {
      this.pending.set(id, { count: 1, lastAt: Date.now() });
    }
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushEveryMs);
      this.timer.unref();
    }
  }

  /** Not yet written counts, so views can be exact before a flush. */
  unflushed(id: string): number {
    return this.pending.get(id)?.count ?? 0;
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.flushing.then(async () => {
      for (const [id, { count, lastAt }] of batch) {
        try {
          await this.store.addRequests(id, count, new Date(lastAt).toISOString());
        } catch (err) {
          this.onError(err);
        }
      }
    });
    return this.flushing;
  }
}
