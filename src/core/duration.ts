/** Milliseconds per unit of a duration such as `30s`, `90m`, `12h`, `7d`, `2w`, `1y`. */
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 } as const;
export type DurationUnit = keyof typeof UNIT_MS;

/**
 * `raw` (a whole number of up to six digits and one of `units`) in milliseconds, or null when it is not
 * such a duration. Each caller names the units it takes and says itself what a bad value means.
 */
export function durationMs(raw: string, units: readonly DurationUnit[]): number | null {
  const m = /^(\d{1,6})([a-z])$/.exec(raw);
  if (!m || !(units as readonly string[]).includes(m[2]!)) return null;
  return Number(m[1]) * UNIT_MS[m[2] as DurationUnit];
}
