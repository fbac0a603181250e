/** What every command gets: where to write, how to reach Berth, whether to print JSON. */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { ApiClient } from './api-client.js';
import { configPath, readConfig, urlKey } from './config-file.js';

export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/** Where secrets (an API token, a secret's value) are read from: piped input, or a terminal to prompt on. */
export interface InStream extends NodeJS.ReadableStream {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface CliIo {
  stdout: OutStream;
  stderr: OutStream;
  /** Secrets are read from here, never from argv (default: process.stdin). */
  stdin?: InStream;
  env: Record<string, string | undefined>;
  /** Ends long-running commands (`logs -f`); main() wires SIGINT to it when omitted. */
  signal?: AbortSignal;
  /** Status poll interval for `deploy` (default 500 ms); tests shorten it. */
  pollIntervalMs?: number;
}

export interface CliContext {
  io: CliIo;
  client: ApiClient;
  json: boolean;
  signal: AbortSignal;
  pollIntervalMs: number;
  out(line: string): void;
  err(line: string): void;
  printJson(value: unknown): void;
}

export { CliFailure } from './failure.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

interface GlobalOpts {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Builds the context from the command's options merged over the program's (`--url` on `deploy` is the endpoint, not Berth). */
export function contextFor(cmd: Command, io: CliIo, signal: AbortSignal): CliContext {
  // Options of every enclosing command (`berth --url U secrets --token T set …`), the nearest winning.
  const global: GlobalOpts = {};
  for (let p = cmd.parent; p; p = p.parent) {
    for (const [k, v] of Object.entries(p.opts() as GlobalOpts)) if (v !== undefined && global[k as keyof GlobalOpts] === undefined) Object.assign(global, { [k]: v });
  }
  const local = cmd.opts() as GlobalOpts;
  const explicit = (cmd.name() === 'deploy' ? undefined : local.url) ?? global.url ?? io.env.BERTH_URL;
  // The config file (berth login) is read only when it is needed: a URL or token given outright wins.
  const given = local.token ?? global.token ?? io.env.BERTH_TOKEN;
  const file = given && explicit ? { servers: {} } : readConfig(configPath(io.env));
  const baseUrl = explicit ?? file.current ?? DEFAULT_URL;
  const token = given ?? file.servers[urlKey(baseUrl)]?.token;
  return {
    io,
    client: new ApiClient({ baseUrl, ...(token ? { token } : {}) }),
    json: Boolean(local.json ?? global.json),
    signal,
    pollIntervalMs: io.pollIntervalMs ?? 500,
    out: (line) => io.stdout.write(`${line}\n`),
    err: (line) => io.stderr.write(`${line}\n`),
    printJson: (value) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
  };
}

/** Runs a command body with its context; main() turns what it throws into a message and an exit code. */
export type Runner = (cmd: Command, fn: (ctx: CliContext) => Promise<void>) => Promise<void>;

/** Evaluates `fn`; a thrown Error becomes a commander usage error (exit 2). */
export function usage<T>(cmd: Command, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    return cmd.error(err instanceof Error ? err.message : String(err), { exitCode: 2, code: 'berth.usage' });
  }
}

/** Commander parser for a non-negative integer option such as `--tail`. */
export function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`expected a whole number, got '${value}'`);
  return Number(value);
}

/** Adds the options every command accepts after its name. */
export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', `Berth URL (env BERTH_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (env BERTH_TOKEN)')
    .option('--json', 'print the API JSON only');
}
