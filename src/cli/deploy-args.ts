/** Turning `berth deploy` options into a CreateDeploymentInput. */
import path from 'node:path';
import { isGitSource, NETWORK_POLICIES, parseGitSource, SECRET_NAME, type CreateDeploymentInput, type MountMode, type NetworkPolicy } from '../core/index.js';
import { InvalidArgumentError } from 'commander';
import { scaleOf } from './update-args.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Commander collector for `-e KEY=VALUE` (repeatable); rejects anything else. */
export function collectEnv(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  const key = eq === -1 ? '' : value.slice(0, eq);
  if (!ENV_NAME.test(key)) {
    throw new InvalidArgumentError(`expected KEY=VALUE with KEY a valid environment variable name, got '${value}'`);
  }
  return { ...previous, [key]: value.slice(eq + 1) };
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Commander collector for `--header 'Name: value'` (repeatable). */
export function collectHeader(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const colon = value.indexOf(':');
  const name = colon === -1 ? '' : value.slice(0, colon).trim();
  if (!HEADER_NAME.test(name)) {
    throw new InvalidArgumentError(`expected 'Name: value', got '${value}'`);
  }
  return { ...previous, [name]: value.slice(colon + 1).trim() };
}

/**
 * Commander collector for `--secret NAME` (repeatable). It only collects: a mistaken `NAME=VALUE` is
 * refused by buildCreateInput, whose message (unlike commander's) does not repeat the argument.
 */
export function collectSecret(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function collectTag(value: string, previous: string[] = []): string[] {
  if (value.trim() === '') throw new InvalidArgumentError('a tag must not be empty');
  return [...previous, value.trim()];
}

/**
 * Commander collector for `--mount PATH[:rw]` (repeatable): read-only unless `:rw` (`:ro` is accepted
 * too). A relative path is resolved where the command was typed, like --cwd.
 */
export function collectMount(value: string, previous: { path: string; mode: MountMode }[] = []): { path: string; mode: MountMode }[] {
  const m = /^(.*):(rw|ro)$/.exec(value);
  const p = m ? (m[1] ?? '') : value;
  if (p.trim() === '') throw new InvalidArgumentError(`expected PATH or PATH:rw, got '${value}'`);
  return [...previous, { path: path.resolve(p), mode: (m?.[2] as MountMode | undefined) ?? 'ro' }];
}

export function parseNetwork(value: string): NetworkPolicy {
  if (!(NETWORK_POLICIES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${NETWORK_POLICIES.join(', ')}, got '${value}'`);
  return value as NetworkPolicy;
}

/** A positive number (`integer`: a positive whole number) for the limit flags. */
export function positiveNumber(integer: boolean): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`expected a positive ${integer ? 'whole number' : 'number'}, got '${value}'`);
    }
    return n;
  };
}

export function parseTimeout(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number of seconds, got '${value}'`);
  return n;
}

/** Runners whose first non-flag argument names the package that is the server. */
const RUNNERS = new Set(['npx', 'bunx', 'pnpx', 'uvx', 'pipx', 'npm', 'pnpm', 'yarn', 'bun', 'uv', 'deno']);
const RUNNER_VERBS = new Set(['exec', 'dlx', 'run', 'x', 'tool']);
const INTERPRETERS = new Set(['node', 'python', 'python3', 'tsx', 'ts-node']);
/** Flags whose value names the server (`npx -p pkg`, `uvx --from pkg`, `python -m module`). */
const VALUE_IS_NAME = new Set(['-p', '--package', '--from', '-m']);
/** Flags whose value is something else and must be skipped. */
const VALUE_IS_OTHER = new Set(['--with', '--registry', '--cache', '--python', '-c', '--call']);
const GENERIC_FILES = new Set(['index', 'main', 'server', '__main__', 'cli']);

function basename(path: string): string {
  return path.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? path;
}

/** Strip an npm scope, a version, a file extension and a leading `mcp-server-` / `server-`. */
export function cleanName(raw: string): string {
  let name = raw.startsWith('@') ? raw.slice(raw.indexOf('/') + 1) : raw;
  name = name.replace(/@[^@/]*$/, '').replace(/==.*$/, '');
  const parts = name.replace(/[\\/]+$/, '').split(/[\\/]/);
  name = (parts.pop() ?? name).replace(/\.(m?[jt]s|cjs|py)$/, '');
  const parent = parts.filter((p) => p !== '' && p !== '.' && p !== '..' && !['dist', 'build', 'src', 'lib', 'bin'].includes(p)).pop();
  if (GENERIC_FILES.has(name) && parent) name = parent;
  name = name.replace(/^mcp-server-/, '').replace(/^server-/, '');
  return name || raw;
}

/** A display name from the command line, e.g. `npx -y @modelcontextprotocol/server-everything` → `everything`. */
export function deriveName(command: string, args: readonly string[]): string {
  const cmd = basename(command);
  if (RUNNERS.has(cmd) || INTERPRETERS.has(cmd)) {
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] ?? '';
      const value = args[i + 1];
      if (VALUE_IS_NAME.has(arg) && value) return cleanName(value);
      if (VALUE_IS_OTHER.has(arg)) {
        i++;
        continue;
      }
      if (arg.startsWith('--package=')) return cleanName(arg.slice('--package='.length));
      if (arg.startsWith('-')) continue;
      if (RUNNERS.has(cmd) && RUNNER_VERBS.has(arg)) continue;
      return cleanName(arg);
    }
  }
  return cleanName(cmd);
}

/** A display name from a remote endpoint: its host name. */
export function deriveUrlName(endpoint: string): string {
  try {
    return new URL(endpoint).hostname || 'remote';
  } catch {
    return 'remote';
  }
}

/** A package named on a command line or by --package, before the server resolves its version. */
export interface PackageRefInput {
  registry: 'npm' | 'pypi';
  name: string;
  version?: string;
  args: string[];
}

const NPM_NAME = /^(@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;
const PYPI_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** `name`, `name@1.2.3`, `@scope/name@^1` (npm); `name`, `name==1.2`, `name@1.2` (PyPI, as uvx takes it). Null when it is not a plain registry name (a path, a URL, git:, extras…). */
export function parsePackageRef(registry: 'npm' | 'pypi', text: string): { name: string; version?: string } | null {
  let name = text;
  let version: string | undefined;
  if (registry === 'npm') {
    const at = text.indexOf('@', 1);
    if (at !== -1) [name, version] = [text.slice(0, at), text.slice(at + 1)];
  } else {
    const m = /^([^=@]+)(?:==|@)(.+)$/.exec(text);
    if (m) [name, version] = [m[1]!, m[2]!];
  }
  if (!(registry === 'npm' ? NPM_NAME : PYPI_NAME).test(name) || version === '') return null;
  return version === undefined || version === 'latest' ? { name } : { name, version };
}

/**
 * `npx [-y|--yes] PKG[@VER] [ARGS…]` and `uvx PKG[==VER] [ARGS…]` as a package to run from Berth's
 * package cache; null for anything else (other runner flags, local paths, URLs), which stays a command.
 */
export function packageFromCommand(command: string, args: readonly string[]): PackageRefInput | null {
  const runner = basename(command);
  const registry = runner === 'npx' ? 'npm' : runner === 'uvx' ? 'pypi' : null;
  if (registry === null) return null;
  let i = 0;
  while (i < args.length && registry === 'npm' && (args[i] === '-y' || args[i] === '--yes')) i++;
  const spec = args[i];
  if (spec === undefined || spec.startsWith('-')) return null;
  const ref = parsePackageRef(registry, spec);
  if (!ref) return null;
  const rest = args.slice(i + 1);
  return { registry, ...ref, args: rest[0] === '--' ? rest.slice(1) : rest };
}

/** `--package npm:NAME[@VER]` / `pypi:NAME[==VER]`. */
export function parsePackageOption(value: string): { registry: 'npm' | 'pypi'; name: string; version?: string } {
  const m = /^(npm|pypi):(.+)$/.exec(value);
  const ref = m ? parsePackageRef(m[1] as 'npm' | 'pypi', m[2]!) : null;
  if (!m || !ref) throw new InvalidArgumentError(`expected npm:NAME[@VERSION] or pypi:NAME[==VERSION], got '${value}'`);
  return { registry: m[1] as 'npm' | 'pypi', ...ref };
}

export interface DeployFlags {
  name?: string;
  description?: string;
  tag?: string[];
  env?: Record<string, string>;
  header?: Record<string, string>;
  cwd?: string;
  mount?: { path: string; mode: MountMode }[];
  network?: NetworkPolicy;
  memory?: number;
  pids?: number;
  cpus?: number;
  isolated?: boolean;
  /** `--min` / `--idle`: scale to zero. */
  min?: 0 | 1;
  idle?: number;
  /** `--public`: anonymous MCP clients may use it. */
  public?: boolean;
  start: boolean;
  url?: string;
  /** Names of secret values to read from stdin or a prompt: env vars of a command, headers of a --url. */
  secret?: string[];
  /** `--package npm:NAME@VER`: run a package from the cache; what follows `--` is its arguments. */
  package?: { registry: 'npm' | 'pypi'; name: string; version?: string };
  /** `--runtime process|container`: where it runs (default: the operator's BERTH_DEFAULT_RUNTIME). */
  runtime?: 'process' | 'container';
  /** `image:REF --port P [--path /mcp]`: the image serves MCP over HTTP itself (without: a stdio server behind the bridge). */
  port?: number;
  path?: string;
  /** `--no-package-cache`: keep `npx …`/`uvx …` as the command it is (default: run the package from the cache). */
  packageCache?: boolean;
}

/** Checks the --secret names against the kind of deployment; never quotes an argument that may hold a value. */
function checkSecretNames(flags: DeployFlags): void {
  const names = flags.secret ?? [];
  const given = flags.url !== undefined ? flags.header : flags.env;
  for (const name of names) {
    if (name.includes('=') || name.includes(':')) throw new Error('--secret takes a name only: its value is read from stdin or a prompt, never from the command line');
    const ok = flags.url !== undefined ? HEADER_NAME.test(name) : SECRET_NAME.test(name);
    if (!ok) throw new Error(`--secret ${name}: expected ${flags.url !== undefined ? 'an HTTP header name' : 'an environment variable name'}`);
    if (given?.[name] !== undefined) throw new Error(`${name} is given both as --secret and as ${flags.url !== undefined ? '--header' : '-e'}`);
  }
  if (new Set(names).size !== names.length) throw new Error('--secret names a variable twice');
}

/** The create body with the values read for --secret: `secrets` of a command, headers of a --url (Berth stores those as secrets). */
export function withSecretValues(input: CreateDeploymentInput, values: Record<string, string>): CreateDeploymentInput {
  if (Object.keys(values).length === 0) return input;
  if (input.spec.type === 'url') return { ...input, spec: { ...input.spec, headers: { ...input.spec.headers, ...values } } };
  return { ...input, secrets: values };
}

/** Build the POST /api/deployments body; throws a plain Error with a usage message when the input is inconsistent. */
export function buildCreateInput(flags: DeployFlags, commandLine: readonly string[]): CreateDeploymentInput {
  checkSecretNames(flags);
  const common = {
    ...(flags.description === undefined ? {} : { description: flags.description }),
    ...(flags.tag ? { tags: flags.tag } : {}),
    ...(flags.public ? { access: 'public' as const } : {}),
    start: flags.start,
  };
  if (flags.url !== undefined) {
    if (commandLine.length > 0) throw new Error('give either --url <endpoint> or -- <command>, not both');
    if (flags.package) throw new Error('give either --url <endpoint> or --package, not both');
    const commandOnly = [
      ['--env', flags.env],
      ['--cwd', flags.cwd],
      ['--mount', flags.mount],
      ['--network', flags.network],
      ['--memory', flags.memory],
      ['--pids', flags.pids],
      ['--cpus', flags.cpus],
      ['--isolated', flags.isolated],
      ['--min', flags.min],
      ['--idle', flags.idle],
      ['--runtime', flags.runtime],
      ['--port', flags.port],
      ['--path', flags.path],
    ] as const;
    for (const [flag, set] of commandOnly) {
      if (set !== undefined && set !== false) throw new Error(`${flag} applies to a command, not to --url`);
    }
    return {
      name: flags.name ?? deriveUrlName(flags.url),
      ...common,
      spec: { type: 'url', endpoint: flags.url, headers: flags.header ?? {} },
    };
  }
  const [command, ...args] = commandLine;
  if (flags.header) throw new Error('--header applies to --url, not to a command');
  if (command !== undefined && command.startsWith('image:')) return imageInput(flags, common, command.slice('image:'.length), args);
  if (flags.port !== undefined || flags.path !== undefined) throw new Error('--port and --path apply to image:REF (an image that serves MCP over HTTP)');
  if (command !== undefined && isGitSource(command)) {
    // git+URL#ref:subdir: Berth fetches it at deploy, records the commit, detects how to install and start it.
    if (flags.package) throw new Error('give either git+URL or --package, not both');
    const source = parseGitSource(command);
    const repo = source.url.replace(/\/+$/, '').split('/').pop()!.replace(/\.git$/, '');
    return {
      name: flags.name ?? cleanName(source.subdir ? source.subdir : repo),
      ...common,
      spec: { type: 'source', source, args, ...hostedFields(flags) },
    };
  }
  const pkg = flags.package ? { ...flags.package, args: [...commandLine] } : command !== undefined && flags.packageCache !== false ? packageFromCommand(command, args) : null;
  if (pkg) {
    return {
      name: flags.name ?? cleanName(pkg.name),
      ...common,
      spec: {
        type: 'package',
        registry: pkg.registry,
        name: pkg.name,
        ...(pkg.version === undefined ? {} : { version: pkg.version }),
        args: pkg.args,
        ...hostedFields(flags),
      },
    };
  }
  if (command === undefined) throw new Error('nothing to deploy: give -- <command> [args...], --package npm:NAME or --url <endpoint>');
  return {
    name: flags.name ?? deriveName(command, args),
    ...common,
    spec: { type: 'process', command, args, ...hostedFields(flags) },
  };
}

/** An OCI image parsed from its reference `image:REF`. */
export function parseImageRef(text: string): string {
  const ref = text.trim();
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@sha256:[0-9a-f]{64})?$/.test(ref)) {
    throw new Error(`image:${text}: expected an image reference like image:registry/name:tag`);
  }
  return ref;
}

/** `berth deploy image:REF [-- CMD ARGS]` (stdio, behind the bridge) or `image:REF --port P [--path /mcp]` (http). */
function imageInput(flags: DeployFlags, common: Omit<CreateDeploymentInput, 'name' | 'spec'>, text: string, commandLine: string[]): CreateDeploymentInput {
  const image = parseImageRef(text);
  if (flags.package) throw new Error('give either image:REF or --package, not both');
  if (flags.runtime === 'process') throw new Error('an image runs only on the container runtime (--runtime container)');
  if (flags.path !== undefined && flags.port === undefined) throw new Error('--path needs --port: the port the image serves MCP on');
  const { runtime: _runtime, ...hosted } = hostedFields(flags);
  const base = image.replace(/@sha256:.*$/, '').split('/').pop()!.replace(/:[^:]*$/, '');
  return {
    name: flags.name ?? cleanName(base),
    ...common,
    spec: {
      type: 'image',
      image,
      transport: flags.port === undefined ? 'stdio' : 'http',
      ...(commandLine.length > 0 ? { command: [...commandLine] } : {}),
      ...(flags.port === undefined ? {} : { port: flags.port }),
      ...(flags.path === undefined ? {} : { path: flags.path }),
      args: [],
      ...hosted,
    },
  };
}

/** What a command and a package share: env, working dir, mounts, network, limits, mode. */
export function hostedFields(flags: DeployFlags) {
  return {
    env: flags.env ?? {},
    // Relative to where the user typed it (Berth would resolve it against its own working directory).
    ...(flags.cwd === undefined ? {} : { cwd: path.resolve(flags.cwd) }),
    ...(flags.mount ? { mounts: flags.mount } : {}),
    ...(flags.network === undefined ? {} : { network: flags.network }),
    ...(limitsOf(flags) ?? {}),
    ...(flags.isolated ? { mode: 'isolated' as const } : {}),
    ...(scaleOf(flags) ? { scale: scaleOf(flags) } : {}),
    ...(flags.runtime === undefined ? {} : { runtime: flags.runtime }),
  };
}

/** `--runtime process|container`. */
export function parseRuntime(value: string): 'process' | 'container' {
  if (value !== 'process' && value !== 'container') throw new Error(`--runtime must be process or container, got ${JSON.stringify(value)}`);
  return value;
}

function limitsOf(flags: DeployFlags): { limits: { memory_mb?: number; pids?: number; cpus?: number } } | null {
  if (flags.memory === undefined && flags.pids === undefined && flags.cpus === undefined) return null;
  return {
    limits: {
      ...(flags.memory === undefined ? {} : { memory_mb: flags.memory }),
      ...(flags.pids === undefined ? {} : { pids: flags.pids }),
      ...(flags.cpus === undefined ? {} : { cpus: flags.cpus }),
    },
  };
}
