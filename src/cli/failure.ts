/** A failure the CLI reports as `berth: <message> (<CODE>)`, exit 1 (or 2 for usage). */
export class CliFailure extends Error {
  readonly code: string | undefined;
  readonly exitCode: number;
  /** Extra lines printed on stderr after the message (e.g. the last log lines). */
  readonly extra: readonly string[];

  constructor(message: string, opts: { code?: string; exitCode?: number; extra?: readonly string[] } = {}) {
    super(message);
    this.name = 'CliFailure';
    this.code = opts.code;
    this.exitCode = opts.exitCode ?? 1;
    this.extra = opts.extra ?? [];
  }
}
