import { accessSync, constants, existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';

export interface Limits {
  /** Address-space cap (RLIMIT_AS) in MiB: virtual memory, not RSS; Node needs ~1 GiB or more. */
  memoryMb?: number;
  nofile?: number;
  nproc?: number;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolves `command` the way execvp would: a name containing `/` is taken relative to `cwd`,
 * anything else is searched on `searchPath`. Returns null when nothing executable is found.
 */
export function resolveCommand(command: string, searchPath: string, cwd: string): string | null {
  if (command.includes('/')) {
    const p = path.resolve(cwd, command);
    return isExecutableFile(p) ? p : null;
  }
  for (const dir of searchPath.split(':')) {
    if (!dir) continue;
    const p = path.join(path.resolve(cwd, dir), command);
    if (isExecutableFile(p)) return p;
  }
  return null;
}

/** `prlimit` arguments for the limits, or [] when none are set. */
export function prlimitArgs(limits: Limits | undefined): string[] {
  if (!limits) return [];
  const out: string[] = [];
  if (limits.nofile !== undefined) out.push(`--nofile=${limits.nofile}:${limits.nofile}`);
  if (limits.nproc !== undefined) out.push(`--nproc=${limits.nproc}:${limits.nproc}`);
  if (limits.memoryMb !== undefined) {
    const bytes = limits.memoryMb * 1024 * 1024;
    out.push(`--as=${bytes}:${bytes}`);
  }
  return out;
}

export interface SandboxPaths {
  /** Read-write: the server's working directory. */
  cwd: string;
  /** Read-write: the per-deployment HOME (npm cache, config). */
  home: string;
  /** The resolved executable; bound read-only when it lives outside the default binds. */
  executable: string;
}

const SYSTEM_DIRS = ['/usr', '/etc', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** Files under /etc a server has no business reading, masked with /dev/null. */
const MASKED = ['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/etc/sudoers'];

function under(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** Binds one system path: symlinks (merged /usr) are recreated as symlinks, dirs are bound read-only. */
function systemBind(dir: string): string[] {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return [];
  }
  if (st.isSymbolicLink()) return ['--symlink', readlinkSync(dir), dir];
  return ['--ro-bind', dir, dir];
}

/** Read-only binds beyond the system dirs: the Node installation (when it is not under /usr, so `node`/`npx` servers run) and the executable's folder. */
function extraBinds(paths: SandboxPaths): Set<string> {
  const extra = new Set<string>();
  if (!SYSTEM_DIRS.some((d) => under(process.execPath, d))) extra.add(path.dirname(path.dirname(process.execPath)));
  if (!SYSTEM_DIRS.some((d) => under(paths.executable, d)) && !under(paths.executable, paths.cwd) && !under(paths.executable, paths.home)) {
    extra.add(path.dirname(paths.executable));
  }
  return extra;
}

/**
 * Arguments that name an existing host path the sandboxed server will not see (a script outside its
 * working dir, say), so the launch can say so instead of leaving the user with "file not found".
 */
export function pathsHiddenBySandbox(args: readonly string[], paths: SandboxPaths): string[] {
  const visible = [...SYSTEM_DIRS, ...extraBinds(paths), paths.cwd, paths.home];
  return args.filter((a) => path.isAbsolute(a) && existsSync(a) && !visible.some((d) => under(path.normalize(a), d)));
}

/**
 * The bubblewrap argument list (everything before the command). See the ADR at the top of
 * ./index.ts for why each flag is there.
 */
export function bwrapArgs(paths: SandboxPaths): string[] {
  const args: string[] = [];
  for (const d of SYSTEM_DIRS) args.push(...systemBind(d));
  for (const f of MASKED) if (existsSync(f)) args.push('--ro-bind', '/dev/null', f);
  for (const d of extraBinds(paths)) args.push('--ro-bind', d, d);
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  // After the tmpfs, so working dirs that live under /tmp are still visible.
  const rw = [paths.cwd, paths.home].sort((a, b) => a.length - b.length);
  for (const [i, d] of rw.entries()) {
    if (i === 0 || !under(d, rw[0] ?? '')) args.push('--bind', d, d);
  }
  args.push('--chdir', paths.cwd);
  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--hostname', 'berth-sandbox');
  // As root, bwrap would keep almost every capability; the server needs none.
  args.push('--cap-drop', 'ALL');
  args.push('--die-with-parent');
  return args;
}
