import { promises as fsp, realpathSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';
import type { ToolResult, ToolRunner } from './run.js';
import type { Entrypoint, InstallContext, Installed, Manifest, PackageDriver, PackageRef } from './types.js';
import { isExactPythonVersion } from './versions.js';

export interface PypiDriverOptions {
  /** The interpreter venvs are made from (BERTH_PYTHON, default `python3` on `env.PATH`). */
  python?: string;
  /** A simple index (BERTH_PYPI_INDEX_URL); default pip's own (pypi.org). */
  indexUrl?: string;
  /** A folder of wheels (BERTH_PYPI_FIND_LINKS); without an index URL it is the only source (`--no-index`). */
  findLinks?: string;
  /** pip's download cache (shared by installs, never seen by servers). */
  cacheDir: string;
  /** A venv of Berth's own whose pip looks versions up (so the host needs no pip of its own, only venv). */
  toolsDir: string;
  env: Record<string, string>;
  run: ToolRunner;
  resolveTimeoutMs?: number;
}

/** Prints what Berth records of an installed distribution: its console scripts, the interpreter, the whole tree. */
const INSPECT = `
import sys, json, importlib.metadata as m
d = m.distribution(sys.argv[1])
print(json.dumps({
  "version": d.version,
  "bins": sorted({e.name for e in d.entry_points if e.group == "console_scripts"}),
  "base_prefix": sys.base_prefix,
  "python": sys.version.split()[0],
  "tree": sorted(f"{x.metadata['Name']}=={x.version}" for x in m.distributions()),
}))
`;

const SYSTEM = ['/usr', '/bin', '/lib', '/lib64'];

/** Installs PyPI packages into a venv of their own and runs their console script with the venv's python. */
export class PypiDriver implements PackageDriver {
  readonly registry = 'pypi' as const;
  private readonly python: string;
  private tools: Promise<string> | null = null;

  constructor(private readonly opts: PypiDriverOptions) {
    this.python = opts.python ?? 'python3';
  }

  async resolveVersion(name: string, wanted: string | undefined): Promise<string> {
    await fsp.mkdir(this.opts.cacheDir, { recursive: true });
    if (wanted !== undefined && !isExactPythonVersion(wanted.replace(/^==/, ''))) {
      throw new BerthError('VALIDATION_FAILED', `spec.version: a PyPI package takes an exact version (like 1.2.3) or none (the latest), got ${wanted}`);
    }
    const timeoutMs = this.opts.resolveTimeoutMs ?? 60_000;
    const r = await this.pip(await this.toolsPython(timeoutMs), ['index', 'versions', name, ...this.sources()], this.opts.cacheDir, timeoutMs);
    const m = /^Available versions: (.+)$/m.exec(r.stdout);
    if (r.code !== 0 || !m) throw this.failure(name, 'looking up', r, timeoutMs);
    const versions = m[1]!.split(',').map((v) => v.trim());
    const want = wanted?.replace(/^==/, '');
    if (want === undefined) return versions[0]!;
    if (!versions.includes(want)) throw new BerthError('PACKAGE_NOT_FOUND', `${name} has no version ${want} (it has ${versions.slice(0, 10).join(', ')})`);
    return want;
  }

  async install(ref: PackageRef, ctx: InstallContext): Promise<Installed> {
    const log = (line: string): void => ctx.log(`pip: ${line}`);
    const deadline = Date.now() + ctx.timeoutMs;
    const left = (): number => Math.max(1, deadline - Date.now());
    const venv = await this.opts.run({ command: this.python, args: ['-m', 'venv', ctx.dir], cwd: ctx.dir, env: this.opts.env, timeoutMs: left(), onLine: log });
    if (venv.code !== 0) throw this.failure(ref.name, 'making a venv for', venv, ctx.timeoutMs);
    const py = path.join(ctx.dir, 'bin', 'python');
    const args = ['install', '--no-input', ...this.sources(), ...(ref.installScripts ? [] : ['--only-binary', ':all:']), `${ref.name}==${ref.version}`];
    const r = await this.pip(py, args, ctx.dir, left(), log);
    if (r.code !== 0) throw this.failure(`${ref.name}==${ref.version}`, 'installing', r, ctx.timeoutMs);
    const info = await this.opts.run({ command: py, args: ['-c', INSPECT, ref.name], cwd: ctx.dir, env: this.opts.env, timeoutMs: left() });
    if (info.code !== 0) throw this.failure(ref.name, 'inspecting', info, ctx.timeoutMs);
    const found = JSON.parse(info.stdout) as { version: string; bins: string[]; base_prefix: string; python: string; tree: string[] };
    if (found.version !== ref.version) throw new BerthError('PACKAGE_INSTALL_FAILED', `${ref.name}: pip installed version ${found.version}, not ${ref.version}`);
    const bins = Object.fromEntries(found.bins.filter((b) => /^[A-Za-z0-9@._-]+$/.test(b)).map((b) => [b, path.join('bin', b)]));
    const prefix = realpathSync(found.base_prefix);
    // The venv's python is a link to this installation: a sandbox must see it (read-only) when the system folders do not hold it.
    const mounts = SYSTEM.some((d) => prefix === d || prefix.startsWith(`${d}/`)) ? [] : [prefix];
    return { lock: JSON.stringify({ python: found.python, tree: found.tree }), bins, mounts };
  }

  entrypoint(manifest: Manifest, dir: string, bin: string): Entrypoint {
    const file = manifest.bins[bin];
    if (file === undefined) throw new BerthError('PACKAGE_BIN_NOT_FOUND', `${manifest.name} has no console script ${bin}`);
    // The script's shebang names the folder the venv was built in; run by the venv's python, the entry can live anywhere.
    return {
      command: path.join(dir, 'bin', 'python'),
      args: [path.join(dir, file)],
      env: { PYTHONDONTWRITEBYTECODE: '1' },
      mounts: [dir, ...manifest.mounts],
    };
  }

  /** The python of Berth's tools venv, made once (ensurepip puts pip in it, offline). */
  private toolsPython(timeoutMs: number): Promise<string> {
    const py = path.join(this.opts.toolsDir, 'bin', 'python');
    this.tools ??= (async () => {
      if (await fsp.access(py).then(() => true, () => false)) return py;
      const tmp = `${this.opts.toolsDir}.${process.pid}.tmp`;
      await fsp.rm(tmp, { recursive: true, force: true });
      const r = await this.opts.run({ command: this.python, args: ['-m', 'venv', tmp], cwd: this.opts.cacheDir, env: this.opts.env, timeoutMs });
      if (r.code !== 0) throw this.failure('a tools venv', 'making', r, timeoutMs);
      await fsp.rename(tmp, this.opts.toolsDir);
      return py;
    })();
    void this.tools.catch(() => (this.tools = null));
    return this.tools;
  }

  private pip(python: string, args: string[], cwd: string, timeoutMs: number, onLine?: (line: string) => void): Promise<ToolResult> {
    const all = ['-m', 'pip', ...args, '--disable-pip-version-check', '--retries=1', '--timeout=15', `--cache-dir=${this.opts.cacheDir}`];
    return this.opts.run({ command: python, args: all, cwd, env: this.opts.env, timeoutMs, ...(onLine ? { onLine } : {}) });
  }

  private sources(): string[] {
    const out: string[] = [];
    if (this.opts.indexUrl) out.push(`--index-url=${this.opts.indexUrl}`);
    else if (this.opts.findLinks) out.push('--no-index');
    if (this.opts.findLinks) out.push(`--find-links=${this.opts.findLinks}`);
    return out;
  }

  private failure(name: string, what: string, r: ToolResult, timeoutMs: number): BerthError {
    const text = [...r.stderrTail, r.stdout].join('\n');
    if (r.timedOut) return new BerthError('PACKAGE_INSTALL_FAILED', `${what} ${name} timed out after ${Math.round(timeoutMs / 1000)} s`);
    if (/No matching distribution|Could not find a version|No matching (index )?versions/i.test(text)) {
      return new BerthError('PACKAGE_NOT_FOUND', `${name} is not on the package index (or has no such version${/only-binary|no-binary/.test(text) ? ' as a wheel' : ''})`);
    }
    if (/NewConnectionError|Max retries exceeded|Temporary failure in name resolution|Network is unreachable|ConnectTimeout/i.test(text)) {
      return new BerthError('PACKAGE_REGISTRY_UNAVAILABLE', `${what} ${name}: the package index could not be reached`);
    }
    const errs = r.stderrTail.filter((l) => /ERROR|Error/.test(l)).slice(0, 4);
    return new BerthError('PACKAGE_INSTALL_FAILED', `${what} ${name} failed: ${(errs.length > 0 ? errs : r.stderrTail.slice(-4)).join('; ')}`);
  }
}
