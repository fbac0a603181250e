import type { LogEntry } from '../telemetry/logs.js';

/** A line that names an error: `Error: …`, `ModuleNotFoundError: …`, `error: …`, `panic: …`, `FATAL …`. */
const ERROR_LINE = /(^|[\s.])(\w*(Error|Exception)\b|error\b|panic\b|fatal\b|FATAL\b)/;
const MAX_CHARS = 200;
/** The system log line the reconciler writes when a start attempt begins; the hint looks only after the last one. */
const STARTING = 'starting (';

export const startingLine = (what: string): string => `${STARTING}${what})`;

/**
 * The stderr line that most likely says why a server failed to start, from the log entries of its
 * latest start attempt (the entries after the last `startingLine`): the last line that names an
 * error, else the last non-empty line. Null when the server wrote nothing to stderr.
 */
export function stderrHint(entries: readonly LogEntry[]): string | null {
  let from = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.stream === 'system' && e.line.startsWith(STARTING)) {
      from = i + 1;
      break;
    }
  }
  const lines = entries.slice(from).filter((e) => e.stream === 'stderr' && e.line.trim() !== '').map((e) => e.line.trim());
  if (lines.length === 0) return null;
  const pick = lines.findLast((l) => ERROR_LINE.test(l)) ?? lines[lines.length - 1]!;
  return pick.length > MAX_CHARS ? `${pick.slice(0, MAX_CHARS - 1)}…` : pick;
}
