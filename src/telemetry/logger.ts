export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
type EmitLevel = Exclude<LogLevel, 'silent'>;

export type LogFields = Record<string, unknown>;

/** Berth's own structured log: one JSON object per line. */
export interface Logger {
  readonly level: LogLevel;
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `bindings` to every line (the child's fields win over the parent's). */
  child(bindings: LogFields): Logger;
}

export interface LoggerOptions {
  /** Lowest level written (default `info`). */
  level?: LogLevel;
  /** Fields on every line, e.g. `{ component: 'gateway' }`. */
  bindings?: LogFields;
  /** Where lines go (default: process.stderr). Gets one complete line, newline included. */
  write?: (line: string) => void;
  /** Clock for `ts` (tests). */
  now?: () => Date;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** Errors become plain objects (JSON.stringify would turn them into `{}`); cycles and bigints are made safe. */
function jsonSafe(value: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Error) {
      const code = (v as NodeJS.ErrnoException).code;
      return { name: v.name, message: v.message, ...(code === undefined ? {} : { code }), stack: v.stack };
    }
    if (typeof v === 'object' && v !== null) {
      if (seen.has(v)) return '[Circular]';
      seen.add(v);
    }
    return v;
  });
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new Error(`createLogger: level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  const write = opts.write ?? ((line: string) => void process.stderr.write(line));
  const now = opts.now ?? (() => new Date());
  const bindings = { ...opts.bindings };

  const emit = (lvl: EmitLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < RANK[level]) return;
    // ts/level/msg come first for readability, and fields cannot override them.
    const ts = now().toISOString();
    const record: LogFields = Object.assign({ ts, level: lvl, msg }, bindings, fields);
    Object.assign(record, { ts, level: lvl, msg });
    write(`${jsonSafe(record)}\n`);
  };

  return {
    level,
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (more) => createLogger({ level, write, now, bindings: { ...bindings, ...more } }),
  };
}
