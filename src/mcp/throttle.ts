/**
 * Says a recurring thing at most once per window and key, so an attack cannot flood the logs: `hit(key)`
 * returns how many hits were kept quiet since the last line (the caller says "and N more"), or null to
 * stay quiet. Keys are bounded too: past `maxKeys`, keys whose window is over are forgotten first, then the oldest.
 */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; quiet: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys = 1024,
    private readonly now: () => number = Date.now,
  ) {}

  hit(key = ''): number | null {
    const t = this.now();
    const entry = this.last.get(key);
    if (entry && t - entry.at < this.windowMs) {
      entry.quiet++;
      return null;
    }
    const quiet = entry?.quiet ?? 0;
    if (entry) this.last.delete(key);
    else if (this.last.size >= this.maxKeys) this.prune(t);
    this.last.set(key, { at: t, quiet: 0 });
    return quiet;
  }

  private prune(t: number): void {
    for (const [k, e] of this.last) if (t - e.at >= this.windowMs) this.last.delete(k);
    for (const k of this.last.keys()) {
      if (this.last.size < this.maxKeys) break;
      this.last.delete(k);
    }
  }
}

/** " (and N more like it since the last such line)" when N > 0. */
export function andMore(quiet: number): string {
  return quiet > 0 ? ` (and ${quiet} more like it since the last such line)` : '';
}
