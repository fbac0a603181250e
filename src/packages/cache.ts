import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';
import type { PackageRegistry } from '../core/index.js';
import type { Entrypoint, Installed, Manifest, PackageDriver, PackageRef } from './types.js';

export interface PackageCacheOptions {
  /** The cache's folder (`<dataDir>/packages`): entries, the index, temp installs and the tools' download caches. */
  root: string;
  drivers: PackageDriver[];
  /** An install that takes longer is killed and fails. */
  installTimeoutMs: number;
  /** May a spec ask for install scripts (BERTH_PACKAGE_INSTALL_SCRIPTS=allow)? */
  allowInstallScripts: boolean;
}

/** An installed package, ready to run. */
export interface ReadyPackage {
  manifest: Manifest;
  /** The entry: read-only, shared by every deployment of this package. */
  dir: string;
  bin: string;
  entrypoint: Entrypoint;
  /** True when this call installed it, false when it was in the cache already. */
  installed: boolean;
}

export interface EnsureOptions {
  /** Which executable (spec.bin); absent: the only one, or the one named like the package. */
  bin?: string;
  log: (line: string) => void;
  /** Called once, before installing, when the package is not in the cache (status: "installing …"). */
  onInstall?: () => void;
}

const MANIFEST = 'berth-package.json';
/** Lines one install may add to a deployment's log (npm and pip can be chatty; a hostile package, more so). */
export const INSTALL_LOG_LINES = 300;

/** `log`, passing on at most `max` lines and then saying once how many it drops. */
function cappedLog(log: (line: string) => void, max: number): { log: (line: string) => void; end: () => void } {
  let n = 0;
  return {
    log: (line) => {
      if (++n <= max) log(line);
    },
    end: () => {
      if (n > max) log(`… ${n - max} more install lines not shown`);
    },
  };
}

/** The file-name form of a package name: npm scopes keep their `@`, the `/` becomes `+` (never in an npm name); PyPI names are normalised (PEP 503). */
export function safeName(registry: PackageRegistry, name: string): string {
  return registry === 'npm' ? name.replace('/', '+') : name.toLowerCase().replace(/[-_.]+/g, '-');
}

/** The cache key of a package, before its tree is known: registry/name@version, and whether scripts ran. */
export function keyOf(ref: PackageRef): string {
  return `${ref.registry}/${safeName(ref.registry, ref.name)}@${ref.version}${ref.installScripts ? '+scripts' : ''}`;
}

/** The executable to run: the one asked for, the only one, or the one named like the package. */
export function chooseBin(bins: Record<string, string>, registry: PackageRegistry, name: string, wanted: string | undefined): string {
  const names = Object.keys(bins);
  const list = names.length > 0 ? `it has ${names.join(', ')}` : 'it has none';
  if (wanted !== undefined) {
    if (bins[wanted] !== undefined) return wanted;
    throw new BerthError('PACKAGE_BIN_NOT_FOUND', `${name} has no executable ${wanted} (${list})`, { bins: names });
  }
  if (names.length === 1) return names[0]!;
  const plain = registry === 'npm' ? name.slice(name.indexOf('/') + 1) : safeName('pypi', name);
  const match = names.find((b) => (registry === 'npm' ? b : safeName('pypi', b)) === plain);
  if (match !== undefined) return match;
  throw new BerthError('PACKAGE_BIN_NOT_FOUND', `${name}: cannot tell which executable to run (${list}); name one with spec.bin`, { bins: names });
}

async function chmodTree(dir: string, writable: boolean, top: boolean): Promise<void> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isSymbolicLink()) continue;
    if (e.isDirectory()) await chmodTree(p, writable, true);
    else await setWrite(p, writable);
  }
  if (top) await setWrite(dir, writable);
}

/**
 * Writable for the owner again (to remove it), or read-only for everyone and readable by everyone: Berth may run
 * with umask 077, yet a container runs the entry as its own uid (10001) from a read-only mount. The packages are
 * public and the data dir above the cache stays closed to other users of the host.
 */
async function setWrite(p: string, writable: boolean): Promise<void> {
  const mode = (await fsp.lstat(p)).mode & 0o7777;
  if (writable) return fsp.chmod(p, mode | 0o200);
  const exec = mode & 0o100 ? 0o111 : 0;
  await fsp.chmod(p, (mode & ~0o222) | 0o444 | exec);
}

/** Removes a tree that may have been made read-only. */
export async function removeTree(dir: string): Promise<void> {
  await chmodTree(dir, true, true).catch(() => {});
  await fsp.rm(dir, { recursive: true, force: true });
}

/**
 * The shared package cache: each package is installed once into `entries/`, named by registry,
 * name@version and the hash of its resolved tree, made read-only, and shared by every deployment
 * that runs it (see docs/adr/0018-package-cache.md). Installs go to `tmp/` and are renamed into
 * place, so an entry is complete or absent; two callers wanting the same key share one install.
 */
export class PackageCache {
  /** Installs this cache ran, and lookups it answered from disk (what the tests check). */
  readonly counts = { installs: 0, hits: 0 };
  readonly root: string;
  private readonly drivers = new Map<PackageRegistry, PackageDriver>();
  private readonly inflight = new Map<string, Promise<{ manifest: Manifest; dir: string; installed: boolean }>>();
  private tidied = false;

  constructor(private readonly opts: PackageCacheOptions) {
    if (!path.isAbsolute(opts.root)) throw new Error(`PackageCache: root must be an absolute path, got ${JSON.stringify(opts.root)}`);
    if (!Number.isInteger(opts.installTimeoutMs) || opts.installTimeoutMs <= 0) throw new Error('PackageCache: installTimeoutMs must be a positive integer');
    this.root = opts.root;
    for (const d of opts.drivers) this.drivers.set(d.registry, d);
  }

  /** Where entries live: the one folder under the data dir a sandbox may see (read-only). */
  get entriesDir(): string {
    return path.join(this.root, 'entries');
  }

  /** The exact version a spec's version (absent, a range or a tag) names; refuses install scripts unless allowed. */
  async pin(spec: { registry: PackageRegistry; name: string; version?: string | undefined; install_scripts?: boolean }): Promise<string> {
    if (spec.install_scripts && !this.opts.allowInstallScripts) {
      throw new BerthError('PACKAGE_SCRIPTS_NOT_ALLOWED', `${spec.name}: install_scripts runs the package's scripts on the Berth host outside the sandbox; the operator must set BERTH_PACKAGE_INSTALL_SCRIPTS=allow`);
    }
    const driver = this.driver(spec.registry);
    // An exact version already in the cache needs no registry at all.
    if (spec.version !== undefined) {
      const hit = await this.lookup({ registry: spec.registry, name: spec.name, version: spec.version, installScripts: spec.install_scripts ?? false });
      if (hit) return spec.version;
    }
    return driver.resolveVersion(spec.name, spec.version);
  }

  /** The package installed (once) and how to run it. */
  async ensure(ref: PackageRef, opts: EnsureOptions): Promise<ReadyPackage> {
    if (ref.installScripts && !this.opts.allowInstallScripts) {
      throw new BerthError('PACKAGE_SCRIPTS_NOT_ALLOWED', `${ref.name}: install scripts are not allowed on this Berth (BERTH_PACKAGE_INSTALL_SCRIPTS)`);
    }
    const driver = this.driver(ref.registry);
    const key = keyOf(ref);
    let job = this.inflight.get(key);
    const waiting = job !== undefined;
    if (!job) {
      job = this.lookupOrInstall(ref, key, driver, opts).finally(() => this.inflight.delete(key));
      this.inflight.set(key, job);
    } else {
      opts.log(`waiting for the install of ${ref.name}@${ref.version} already under way`);
    }
    const { manifest, dir } = await job;
    const installed = !waiting && (await job).installed;
    const bin = chooseBin(manifest.bins, ref.registry, ref.name, opts.bin);
    return { manifest, dir, bin, entrypoint: driver.entrypoint(manifest, dir, bin), installed };
  }

  /** The entry of a key when it is installed, else null. */
  async lookup(ref: PackageRef): Promise<{ manifest: Manifest; dir: string } | null> {
    const pointer = path.join(this.root, 'index', `${keyOf(ref)}.json`);
    let entry: string;
    try {
      entry = (JSON.parse(await fsp.readFile(pointer, 'utf8')) as { entry: string }).entry;
    } catch {
      return null;
    }
    if (typeof entry !== 'string' || entry.includes('/') || entry.startsWith('.')) return null;
    const dir = path.join(this.entriesDir, ref.registry, entry);
    try {
      const manifest = JSON.parse(await fsp.readFile(path.join(dir, MANIFEST), 'utf8')) as Manifest;
      if (manifest.name !== ref.name || manifest.version !== ref.version) return null;
      return { manifest, dir };
    } catch {
      return null;
    }
  }

  private driver(registry: PackageRegistry): PackageDriver {
    const d = this.drivers.get(registry);
    if (!d) throw new BerthError('VALIDATION_FAILED', `spec.registry: ${registry} packages are not enabled on this Berth`);
    return d;
  }

  private async lookupOrInstall(ref: PackageRef, key: string, driver: PackageDriver, opts: EnsureOptions) {
    const found = await this.lookup(ref);
    if (found) {
      this.counts.hits++;
      opts.log(`${ref.name}@${ref.version} is in the package cache (${found.manifest.digest.slice(0, 12)}): nothing to download`);
      // An entry an older Berth made under umask 077 is opened to every uid once (setWrite), as new ones are.
      if (((await fsp.stat(found.dir)).mode & 0o005) !== 0o005) await chmodTree(found.dir, false, true);
      return { ...found, installed: false };
    }
    opts.onInstall?.();
    await this.tidy();
    this.counts.installs++;
    const tmp = path.join(this.root, 'tmp', `${safeName(ref.registry, ref.name)}-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(tmp, { recursive: true });
    const out = cappedLog(opts.log, INSTALL_LOG_LINES);
    try {
      const t0 = Date.now();
      opts.log(`installing ${ref.name}@${ref.version} from ${ref.registry} into the package cache${ref.installScripts ? ' (install scripts allowed)' : ''}`);
      let installed: Installed;
      try {
        installed = await driver.install(ref, { dir: tmp, log: out.log, timeoutMs: this.opts.installTimeoutMs });
      } finally {
        out.end();
      }
      const digest = createHash('sha256').update(installed.lock).digest('hex');
      const manifest: Manifest = { ...ref, ...installed, digest, installed_at: new Date().toISOString() };
      await fsp.writeFile(path.join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
      // Read-only before anyone can see it; its top folder after the rename (moving a folder writes its `..`).
      await chmodTree(tmp, false, false);
      const name = `${path.basename(key)}-${digest.slice(0, 16)}`;
      const dir = path.join(this.entriesDir, ref.registry, name);
      await fsp.mkdir(path.dirname(dir), { recursive: true });
      try {
        await fsp.rename(tmp, dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
        // The same tree is already there (content-addressed): keep it, drop ours.
        await removeTree(tmp);
      }
      await setWrite(dir, false);
      await this.writePointer(key, name, digest);
      opts.log(`installed ${ref.name}@${ref.version} in ${((Date.now() - t0) / 1000).toFixed(1)} s (${digest.slice(0, 12)}, read-only, shared)`);
      return { manifest, dir, installed: true };
    } catch (err) {
      await removeTree(tmp);
      throw err;
    }
  }

  private async writePointer(key: string, entry: string, digest: string): Promise<void> {
    const file = path.join(this.root, 'index', `${key}.json`);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
    await fsp.writeFile(tmp, `${JSON.stringify({ entry, digest })}\n`);
    await fsp.rename(tmp, file);
  }

  /** Installs a crashed Berth left half done are removed once, before this process installs anything. */
  private async tidy(): Promise<void> {
    if (this.tidied) return;
    this.tidied = true;
    const tmp = path.join(this.root, 'tmp');
    const left = await fsp.readdir(tmp).catch(() => [] as string[]);
    const mine = new Set([...this.inflight.keys()]);
    if (mine.size > 1) return; // others of ours are installing there right now
    await Promise.all(left.map((e) => removeTree(path.join(tmp, e))));
  }
}
