/**
 * When a failed deployment is tried again: after `initialMs`, doubling up to `maxMs`, by a timer that calls
 * `retry(id)`. A newer generation (an update, a restart) is never held back by an older one's backoff.
 */
export class RetrySchedule {
  private readonly entries = new Map<string, { generation: number; attempt: number; dueAt: number; timer: NodeJS.Timeout }>();

  constructor(
    private readonly opts: { initialMs: number; maxMs: number },
    private readonly retry: (id: string) => void,
  ) {}

  /** Whether `id`'s generation `generation` must still wait for its retry timer. */
  waiting(id: string, generation: number): boolean {
    const r = this.entries.get(id);
    return r !== undefined && Date.now() < r.dueAt && r.generation >= generation;
  }

  /** Schedules the next try after a failure of `generation`; returns what to tell the user. */
  schedule(id: string, generation: number): string {
    const prev = this.entries.get(id);
    if (prev) clearTimeout(prev.timer);
    const attempt = (prev?.attempt ?? 0) + 1;
    const delay = Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** Math.min(attempt - 1, 30));
    const timer = setTimeout(() => this.retry(id), delay);
    timer.unref();
    this.entries.set(id, { generation, attempt, dueAt: Date.now() + delay, timer });
    return `retry ${attempt} in ${formatDelay(delay)} (or now: berth restart ${id})`;
  }

  /** `id` started, or is to be tried at once: its backoff is forgotten. */
  clear(id: string): void {
    const r = this.entries.get(id);
    if (r) clearTimeout(r.timer);
    this.entries.delete(id);
  }

  clearAll(): void {
    for (const id of [...this.entries.keys()]) this.clear(id);
  }

  /** `; next retry in 40s`, or nothing when none is scheduled. */
  hint(id: string): string {
    const r = this.entries.get(id);
    return r ? `; next retry in ${formatDelay(Math.max(0, r.dueAt - Date.now()))}` : '';
  }
}

function formatDelay(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s}s` : `${Math.round(s / 60)}m`;
}
