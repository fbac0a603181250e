/**
 * Node.js source detection, in the order the best builders use (Railpack's and Nixpacks' Node providers):
 * the package manager from `packageManager`, then the lockfile; a `build` script before start; the start
 * command from `bin`, then the `start` script, then `main`, then `index.js` / `index.ts`.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DetectReport, Finding, NodePlan, Problem } from './types.js';

type Manager = NodePlan['packageManager'];

interface PackageJson {
  name?: unknown;
  bin?: unknown;
  main?: unknown;
  exports?: unknown;
  scripts?: Record<string, unknown>;
  engines?: { node?: unknown };
  packageManager?: unknown;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
}

const MCP_SDKS = ['@modelcontextprotocol/sdk', '@modelcontextprotocol/server', 'fastmcp', 'mcp-framework'];
const LOCKFILES: [string, Manager][] = [
  ['pnpm-lock.yaml', 'pnpm'],
  ['bun.lock', 'bun'],
  ['bun.lockb', 'bun'],
  ['yarn.lock', 'yarn-classic'],
  ['package-lock.json', 'npm'],
  ['npm-shrinkwrap.json', 'npm'],
];

/** A start command from a manifest (smithery.yaml) that comes before the project's own (already reported as a finding). */
export interface StartHint {
  start?: string[] | null;
}

/** Detects how to install, build and start the Node.js project at `root`; null when there is no package.json. */
export function detectNode(root: string, hint: StartHint = {}): DetectReport<NodePlan> | null {
  const file = path.join(root, 'package.json');
  if (!existsSync(file)) return null;
  const findings: Finding[] = [];
  const warnings: Problem[] = [];
  const problems: Problem[] = [];
  let pkg: PackageJson;
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    pkg = parsed as PackageJson;
  } catch (err) {
    problems.push({ code: 'PACKAGE_JSON_INVALID', message: `package.json is not valid JSON: ${(err as Error).message}`, fix: 'fix package.json so that `npm pkg get name` reads it' });
    return { plan: null, findings, warnings, problems };
  }
  const has = (f: string): boolean => existsSync(path.join(root, f));
  const scripts = pkg.scripts ?? {};

  const manager = packageManager(pkg, has, findings, warnings);
  const install = installCommand(manager, has);
  findings.push({ what: 'install', value: install.join(' '), from: manager.from });

  const typescript = has('tsconfig.json');
  if (typescript) findings.push({ what: 'language', value: 'TypeScript', from: 'tsconfig.json' });
  const build = typeof scripts.build === 'string' ? runScript(manager.name, 'build') : null;
  if (build) findings.push({ what: 'build', value: build.join(' '), from: 'package.json scripts.build' });

  const start = hint.start ?? startCommand(pkg, has, manager.name, findings);
  if (!start) {
    problems.push({
      code: 'NO_START_COMMAND',
      message: 'No way to start the server: package.json has no bin, no start script, no main and no exports, and there is no index.js or index.ts',
      fix: 'add "bin" (or a "start" script, or "main") to package.json',
    });
  } else if (typescript && !build && start.some((a) => a.endsWith('.ts'))) {
    warnings.push({ code: 'TYPESCRIPT_NOT_BUILT', message: `The start command runs TypeScript (${start.join(' ')}) and there is no build script`, fix: 'add a "build" script (tsc) and point "bin" or "main" at its output' });
  }

  const deps = { ...pkg.dependencies, ...pkg.devDependencies };
  const sdk = MCP_SDKS.find((d) => d in deps);
  if (sdk) findings.push({ what: 'MCP SDK', value: `${sdk} ${String(deps[sdk])}`, from: 'package.json dependencies' });
  else warnings.push({ code: 'NO_MCP_SDK', message: 'No MCP SDK among the dependencies: is this an MCP server?', fix: `depend on ${MCP_SDKS[0]} (or another MCP server library)` });

  const nodeVersion = nodeVersionOf(pkg, root, findings);
  const plan: NodePlan | null = start ? { language: 'node', packageManager: manager.name, install, build, start, nodeVersion, typescript } : null;
  return { plan, findings, warnings, problems };
}

function packageManager(pkg: PackageJson, has: (f: string) => boolean, findings: Finding[], warnings: Problem[]): { name: Manager; from: string } {
  const found = LOCKFILES.filter(([f]) => has(f));
  if (typeof pkg.packageManager === 'string') {
    const tool = pkg.packageManager.split('@')[0];
    const name: Manager | undefined = tool === 'npm' ? 'npm' : tool === 'pnpm' ? 'pnpm' : tool === 'bun' ? 'bun' : tool === 'yarn' ? yarnKind(pkg.packageManager, has) : undefined;
    if (name) {
      findings.push({ what: 'package manager', value: name, from: 'package.json packageManager' });
      return { name, from: 'package.json packageManager' };
    }
  }
  const kinds = new Set(found.map(([, m]) => m));
  if (kinds.size > 1) {
    warnings.push({ code: 'LOCKFILE_CONFLICT', message: `Several lockfiles: ${found.map(([f]) => f).join(', ')}; using ${found[0]![0]}`, fix: 'keep the lockfile of the package manager you use, or set "packageManager" in package.json' });
  }
  const first = found[0];
  if (!first) {
    findings.push({ what: 'package manager', value: 'npm', from: 'default' });
    return { name: 'npm', from: 'default' };
  }
  const name = first[1] === 'yarn-classic' ? yarnKind('yarn', has) : first[1];
  findings.push({ what: 'package manager', value: name, from: first[0] });
  return { name, from: first[0] };
}

/** Yarn 2+ ("berry") keeps its settings in .yarnrc.yml; a packageManager of yarn@2+ says so too. */
function yarnKind(spec: string, has: (f: string) => boolean): Manager {
  const major = Number(/^yarn@(\d+)/.exec(spec)?.[1] ?? 0);
  return major >= 2 || has('.yarnrc.yml') ? 'yarn-berry' : 'yarn-classic';
}

function installCommand(manager: { name: Manager }, has: (f: string) => boolean): string[] {
  switch (manager.name) {
    case 'pnpm':
      return has('pnpm-lock.yaml') ? ['pnpm', 'install', '--frozen-lockfile'] : ['pnpm', 'install'];
    case 'bun':
      return has('bun.lock') || has('bun.lockb') ? ['bun', 'install', '--frozen-lockfile'] : ['bun', 'install'];
    case 'yarn-berry':
      return has('yarn.lock') ? ['yarn', 'install', '--immutable'] : ['yarn', 'install'];
    case 'yarn-classic':
      return has('yarn.lock') ? ['yarn', 'install', '--frozen-lockfile'] : ['yarn', 'install'];
    default:
      return has('package-lock.json') || has('npm-shrinkwrap.json') ? ['npm', 'ci'] : ['npm', 'install'];
  }
}

function runScript(manager: Manager, script: string): string[] {
  const tool = manager === 'yarn-classic' || manager === 'yarn-berry' ? 'yarn' : manager;
  return [tool, 'run', script];
}

/** bin (the one named after the package, or the only one), then the start script, then main, then index.js / index.ts. */
function startCommand(pkg: PackageJson, has: (f: string) => boolean, manager: Manager, findings: Finding[]): string[] | null {
  const bin = binOf(pkg);
  if (bin) {
    findings.push({ what: 'start', value: `node ${bin}`, from: 'package.json bin' });
    return ['node', bin];
  }
  if (typeof pkg.scripts?.start === 'string') {
    const cmd = runScript(manager, 'start');
    findings.push({ what: 'start', value: `${cmd.join(' ')} (${pkg.scripts.start})`, from: 'package.json scripts.start' });
    return cmd;
  }
  if (typeof pkg.main === 'string' && pkg.main.trim() !== '') {
    findings.push({ what: 'start', value: `node ${pkg.main}`, from: 'package.json main' });
    return ['node', pkg.main];
  }
  const exported = exportsEntry(pkg.exports);
  if (exported) {
    findings.push({ what: 'start', value: `node ${exported}`, from: 'package.json exports' });
    return ['node', exported];
  }
  for (const f of ['index.js', 'index.ts']) {
    if (!has(f)) continue;
    const cmd = f.endsWith('.ts') ? ['node', '--experimental-strip-types', f] : ['node', f];
    findings.push({ what: 'start', value: cmd.join(' '), from: f });
    return cmd;
  }
  return null;
}

/** The file of `exports` "." (a string, or its import / node / default / require condition). */
function exportsEntry(exp: unknown, depth = 0): string | null {
  if (typeof exp === 'string') return exp.startsWith('./') || !exp.startsWith('.') ? exp.replace(/^\.\//, '') : null;
  if (exp === null || typeof exp !== 'object' || Array.isArray(exp) || depth > 3) return null;
  const o = exp as Record<string, unknown>;
  if ('.' in o) return exportsEntry(o['.'], depth + 1);
  if (Object.keys(o).some((k) => k.startsWith('.'))) return null;
  for (const cond of ['node', 'import', 'default', 'require']) {
    const v = exportsEntry(o[cond], depth + 1);
    if (v) return v;
  }
  return null;
}

function binOf(pkg: PackageJson): string | null {
  if (typeof pkg.bin === 'string' && pkg.bin.trim() !== '') return pkg.bin;
  if (pkg.bin && typeof pkg.bin === 'object') {
    const entries = Object.entries(pkg.bin as Record<string, unknown>).filter(([, v]) => typeof v === 'string') as [string, string][];
    const short = typeof pkg.name === 'string' ? pkg.name.replace(/^@[^/]+\//, '') : undefined;
    const named = entries.find(([k]) => k === short || k === pkg.name);
    if (named) return named[1];
    if (entries.length === 1) return entries[0]![1];
  }
  return null;
}

function nodeVersionOf(pkg: PackageJson, root: string, findings: Finding[]): string | null {
  if (typeof pkg.engines?.node === 'string') {
    findings.push({ what: 'Node.js', value: pkg.engines.node, from: 'package.json engines.node' });
    return pkg.engines.node;
  }
  for (const f of ['.nvmrc', '.node-version']) {
    const p = path.join(root, f);
    if (!existsSync(p)) continue;
    const v = readFileSync(p, 'utf8').trim().replace(/^v/, '');
    if (v) {
      findings.push({ what: 'Node.js', value: v, from: f });
      return v;
    }
  }
  return null;
}
