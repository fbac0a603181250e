import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';
import type { ToolRunner } from './run.js';
import { compareVersions, isExactVersion } from './versions.js';
import type { Entrypoint, InstallContext, Installed, Manifest, PackageDriver, PackageRef } from './types.js';

export interface NpmDriverOptions {
  /** The npm command (default `npm` on `env.PATH`). */
  npm?: string;
  /** Node, which runs the bins (default: the one running Berth). */
  node?: string;
  /** Registry URL (BERTH_NPM_REGISTRY); default npm's own. */
  registry?: string;
  /**
   * A folder of `npm pack` tarballs (BERTH_NPM_FIND_LINKS), looked in before the registry: for hosts
   * without the registry, and for tests. `@scope/name@1.2.3` is `scope-name-1.2.3.tgz`.
   */
  findLinks?: string;
  /** npm's own download cache (shared by installs, never seen by servers). */
  cacheDir: string;
  /** Environment of npm (PATH, HOME: Berth's own, not the user's). */
  env: Record<string, string>;
  run: ToolRunner;
  /** Deadline of a `npm view` (version resolution). */
  resolveTimeoutMs?: number;
}

/** npm pack's file name for a package version. */
export function tarballName(name: string, version: string): string {
  return `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`;
}

/** Paths to the package's bins (package.json `bin`, a string or a map), relative to the entry; a bin outside the package is refused. */
export function npmBins(pkgJson: { name?: string; bin?: unknown }, name: string, pkgDir: string): Record<string, string> {
  const raw = typeof pkgJson.bin === 'string' ? { [name.slice(name.indexOf('/') + 1)]: pkgJson.bin } : pkgJson.bin;
  const bins: Record<string, string> = {};
  if (typeof raw !== 'object' || raw === null) return bins;
  for (const [bin, file] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof file !== 'string' || !/^[A-Za-z0-9@._-]+$/.test(bin)) continue;
    const rel = path.normalize(path.join(pkgDir, file));
    if (rel.startsWith('..') || path.isAbsolute(rel) || !rel.startsWith(`${pkgDir}/`)) continue;
    bins[bin] = rel;
  }
  return bins;
}

function npmFailure(name: string, what: string, tail: string[], timedOut: boolean, timeoutMs: number): BerthError {
  const text = tail.join('\n');
  if (timedOut) return new BerthError('PACKAGE_INSTALL_FAILED', `${what} ${name} timed out after ${Math.round(timeoutMs / 1000)} s`);
  if (/E404|404 Not Found|is not in this registry|ETARGET|No matching version/.test(text)) {
    return new BerthError('PACKAGE_NOT_FOUND', `${name} is not in the npm registry (or has no such version)`);
  }
  if (/ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|ECONNRESET|network/i.test(text)) {
    return new BerthError('PACKAGE_REGISTRY_UNAVAILABLE', `${what} ${name}: the npm registry could not be reached (${tail.filter((l) => /ERR/.test(l)).slice(0, 2).join('; ') || 'network error'})`);
  }
  const errs = tail.filter((l) => /ERR!/.test(l)).slice(0, 4);
  return new BerthError('PACKAGE_INSTALL_FAILED', `${what} ${name} failed: ${(errs.length > 0 ? errs : tail.slice(-4)).join('; ')}`);
}

/** Installs npm packages with `npm install --omit=dev` (scripts off unless asked) and runs their bin with node. */
export class NpmDriver implements PackageDriver {
  readonly registry = 'npm' as const;
  private readonly npm: string;
  private readonly node: string;

  constructor(private readonly opts: NpmDriverOptions) {
    this.npm = opts.npm ?? 'npm';
    this.node = opts.node ?? process.execPath;
  }

  async resolveVersion(name: string, wanted: string | undefined): Promise<string> {
    await fsp.mkdir(this.opts.cacheDir, { recursive: true });
    const local = this.localVersions(name);
    if (wanted !== undefined && isExactVersion(wanted) && local.includes(wanted)) return wanted;
    if (wanted === undefined && local.length > 0) return local.sort(compareVersions).at(-1)!;
    const timeoutMs = this.opts.resolveTimeoutMs ?? 60_000;
    const r = await this.opts.run({
      command: this.npm,
      args: ['view', `${name}@${wanted ?? 'latest'}`, 'version', '--json', ...this.common()],
      cwd: this.opts.cacheDir,
      env: this.opts.env,
      timeoutMs,
    });
    if (r.code !== 0 || r.timedOut) {
      const e = npmFailure(name, 'looking up', r.stderrTail.concat(r.stdout.split('\n')), r.timedOut, timeoutMs);
      throw e.code === 'PACKAGE_INSTALL_FAILED' ? new BerthError('PACKAGE_REGISTRY_UNAVAILABLE', e.message) : e;
    }
    const out = r.stdout.trim();
    const parsed: unknown = out === '' ? [] : JSON.parse(out);
    const versions = (Array.isArray(parsed) ? parsed : [parsed]).filter((v): v is string => typeof v === 'string' && isExactVersion(v));
    if (versions.length === 0) throw new BerthError('PACKAGE_NOT_FOUND', `${name} has no version matching ${wanted ?? 'latest'} in the npm registry`);
    return versions.sort(compareVersions).at(-1)!;
  }

  async install(ref: PackageRef, ctx: InstallContext): Promise<Installed> {
    const local = this.opts.findLinks ? path.join(this.opts.findLinks, tarballName(ref.name, ref.version)) : null;
    const source = local && existsSync(local) ? `file:${local}` : ref.version;
    await fsp.writeFile(path.join(ctx.dir, 'package.json'), `${JSON.stringify({ name: 'berth-package', private: true, dependencies: { [ref.name]: source } }, null, 2)}\n`);
    const args = ['install', '--omit=dev', '--no-audit', '--no-fund', '--no-update-notifier', '--loglevel=http', ...this.common()];
    if (!ref.installScripts) args.push('--ignore-scripts');
    if (source !== ref.version) ctx.log(`from ${local}`);
    let fetched = 0;
    let cached = 0;
    const r = await this.opts.run({
      command: this.npm,
      args,
      cwd: ctx.dir,
      env: this.opts.env,
      timeoutMs: ctx.timeoutMs,
      onLine: (line) => {
        // One line per download would flood the log: count them, and pass on what is not a fetch.
        if (/^npm http cache /.test(line)) {
          cached++;
          return;
        }
        if (/^npm http fetch /.test(line)) {
          fetched++;
          if (fetched % 25 === 0) ctx.log(`… ${fetched} requests to the registry`);
          return;
        }
        ctx.log(`npm: ${line.replace(/^npm /, '')}`);
      },
    });
    if (r.code !== 0 || r.timedOut) throw npmFailure(`${ref.name}@${ref.version}`, 'installing', r.stderrTail, r.timedOut, ctx.timeoutMs);
    ctx.log(`npm made ${fetched} registry request${fetched === 1 ? '' : 's'}; ${cached} tarball${cached === 1 ? '' : 's'} came from its download cache`);
    const pkgDir = path.join('node_modules', ref.name);
    const pkgJson = JSON.parse(await fsp.readFile(path.join(ctx.dir, pkgDir, 'package.json'), 'utf8')) as { name?: string; version?: string; bin?: unknown };
    if (pkgJson.version !== ref.version) throw new BerthError('PACKAGE_INSTALL_FAILED', `${ref.name}: npm installed version ${String(pkgJson.version)}, not ${ref.version}`);
    const lock = await fsp.readFile(path.join(ctx.dir, 'package-lock.json'), 'utf8');
    return { lock, bins: npmBins(pkgJson, ref.name, pkgDir), mounts: [] };
  }

  entrypoint(manifest: Manifest, dir: string, bin: string): Entrypoint {
    const file = manifest.bins[bin];
    if (file === undefined) throw new BerthError('PACKAGE_BIN_NOT_FOUND', `${manifest.name} has no executable ${bin}`);
    // The bin's shebang says `node`; running node on it directly leaves no npx (or shell) in between.
    return { command: this.node, args: [path.join(dir, file)], env: {}, mounts: [dir, ...manifest.mounts] };
  }

  private common(): string[] {
    return [`--cache=${this.opts.cacheDir}`, ...(this.opts.registry ? [`--registry=${this.opts.registry}`] : [])];
  }

  /** Versions of `name` in the find-links folder. */
  private localVersions(name: string): string[] {
    if (!this.opts.findLinks) return [];
    const prefix = tarballName(name, '').slice(0, -'.tgz'.length);
    let files: string[];
    try {
      files = readdirSync(this.opts.findLinks);
    } catch {
      return [];
    }
    return files.filter((f) => f.startsWith(prefix) && f.endsWith('.tgz')).map((f) => f.slice(prefix.length, -4)).filter(isExactVersion);
  }
}
