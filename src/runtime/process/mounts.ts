import { closeSync, constants, fstatSync, openSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';

/** True when `p` is `dir` or lies below it (both absolute and normalised). */
export function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

function overlaps(a: string, b: string): boolean {
  return under(a, b) || under(b, a);
}

/** realpath when the path exists, else the normalised path (a key file that is not created yet is still protected). */
function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

export interface MountRules {
  /** Operator-approved folders (BERTH_MOUNT_ROOTS): cwd and mounts must lie under one of them. */
  roots: readonly string[];
  /** Paths no mount may equal, contain or lie inside: Berth's data dir, its database, the master key file. */
  forbidden: readonly string[];
  /**
   * Folders inside the forbidden ones that Berth itself may bind read-only (the package cache's
   * entries). Only internal mounts (never a spec's) may use them; none may hold another forbidden path.
   */
  internal?: readonly string[];
}

/** A host path that passed the checks and is held open, so what gets bound is what was checked. */
export interface OpenedMount {
  fd: number;
  /** What the descriptor points to. */
  real: string;
  /** The path as the deployment gave it (normalised): where the sandbox sees it. */
  dest: string;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW;

/**
 * Confines working directories and extra mounts to operator roots. Paths are resolved (symlinks
 * followed) before they are checked; `open()` then holds the checked path open and checks again
 * what the descriptor points to, and the sandbox binds that descriptor (bwrap --bind-fd), so a
 * symlink swapped in after the check cannot redirect the mount.
 */
export class MountGuard {
  readonly roots: readonly string[];
  private readonly forbidden: readonly string[];
  private readonly internal: readonly string[];

  constructor(rules: MountRules) {
    for (const p of [...rules.roots, ...rules.forbidden]) {
      if (typeof p !== 'string' || !path.isAbsolute(p)) throw new Error(`MountGuard: paths must be absolute, got ${JSON.stringify(p)}`);
    }
    this.roots = rules.roots.map(realOrResolved);
    // Both spellings of each protected path: the one given and the one it resolves to.
    this.forbidden = [...new Set(rules.forbidden.flatMap((f) => [path.resolve(f), realOrResolved(f)]))];
    this.internal = (rules.internal ?? []).map((d) => {
      if (typeof d !== 'string' || !path.isAbsolute(d)) throw new Error(`MountGuard: internal folders must be absolute, got ${JSON.stringify(d)}`);
      const real = realOrResolved(d);
      // The data dir holds it; the database and key file must not be inside it (or it inside them).
      const clash = this.forbidden.find((f) => !under(real, f) && overlaps(real, f));
      if (clash !== undefined) throw new Error(`MountGuard: internal folder ${d} overlaps protected path ${clash}`);
      return real;
    });
  }

  /**
   * Opens a path Berth itself asks to show read-only (a package cache entry, the interpreter it needs):
   * it must lie inside an internal folder, or else touch nothing protected. Not limited to the mount
   * roots, which are about what a spec may ask for. Throws MOUNT_NOT_ALLOWED.
   */
  openInternal(given: string): OpenedMount {
    const field = 'internal mount';
    const dest = path.resolve(given);
    let real: string;
    try {
      real = realpathSync(dest);
    } catch {
      throw new BerthError('MOUNT_NOT_ALLOWED', `${field} ${given} does not exist on the Berth host`, { field });
    }
    const allowed = (p: string): boolean => p !== '/' && (this.internal.some((d) => under(p, d) && p !== d) || !this.forbidden.some((f) => overlaps(p, f)));
    if (!allowed(dest) || !allowed(real)) throw new BerthError('MOUNT_NOT_ALLOWED', `${field} ${given} overlaps Berth's own data`, { field });
    const fd = openSync(real, OPEN_FLAGS);
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (!allowed(target) || !fstatSync(fd).isDirectory()) throw new BerthError('MOUNT_NOT_ALLOWED', `${field} ${given} changed while it was opened, or is not a folder`, { field });
      return { fd, real: target, dest };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Checks `given` (its spelling and its realpath) and returns the realpath; throws MOUNT_NOT_ALLOWED. */
  check(given: string, field: string): string {
    const dest = path.resolve(given);
    let real: string;
    try {
      real = realpathSync(dest);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist on the Berth host' : `cannot be resolved (${code ?? 'unreadable'})`;
      throw new BerthError('MOUNT_NOT_ALLOWED', `${field} ${given} ${why}`, { field });
    }
    this.checkResolved(given, dest, real, field);
    return real;
  }

  /** Checks and opens `given`; the caller passes `fd` to the sandbox and closes it after the launch. */
  open(given: string, field: string): OpenedMount {
    const dest = path.resolve(given);
    const checked = this.check(given, field);
    const fd = openSync(checked, OPEN_FLAGS);
    try {
      const st = fstatSync(fd);
      if (!st.isDirectory() && !st.isFile()) {
        throw new BerthError('MOUNT_NOT_ALLOWED', `${field} ${given} is neither a folder nor a regular file`, { field });
      }
      const real = readlinkSync(`/proc/self/fd/${fd}`);
      if (real !== checked) this.checkResolved(given, dest, real, field);
      return { fd, real, dest };
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private checkResolved(given: string, dest: string, real: string, field: string): void {
    const refuse = (why: string): never => {
      throw new BerthError('MOUNT_NOT_ALLOWED', `${field} ${given} ${why}`, { field, roots: this.roots });
    };
    if (dest === '/' || real === '/') refuse('is the root folder, which is never mounted into a sandbox; give a folder of the server\'s own');
    for (const f of this.forbidden) {
      if (overlaps(dest, f) || overlaps(real, f)) {
        refuse("overlaps Berth's own data (its data directory, database or key file), which no server may see; use a folder outside it");
      }
    }
    const inRoots = (p: string): boolean => this.roots.some((r) => under(p, r));
    if (!inRoots(dest) || !inRoots(real)) {
      const now = this.roots.length > 0 ? `they are ${this.roots.join(', ')}` : 'none is set';
      refuse(`is not under an allowed mount root (${now}); the operator can add a folder that contains it to BERTH_MOUNT_ROOTS`);
    }
  }
}
