import { accessSync, constants, existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import type { MountMode, NetworkPolicy } from '../../core/isolation.js';
import { under } from './mounts.js';

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

/** What `prlimit` sets when cgroups are not available (and the open-files cap, which cgroups do not cover). */
export interface RlimitSpec {
  nofile?: number;
  nproc?: number;
  /** RLIMIT_DATA in MiB: heap and private mappings. Unlike RLIMIT_AS it leaves Node's large address-space reservations alone. */
  dataMb?: number;
}

/** `prlimit` arguments for the limits, or [] when none are set. */
export function prlimitArgs(limits: RlimitSpec): string[] {
  const out: string[] = [];
  if (limits.nofile !== undefined) out.push(`--nofile=${limits.nofile}:${limits.nofile}`);
  if (limits.nproc !== undefined) out.push(`--nproc=${limits.nproc}:${limits.nproc}`);
  if (limits.dataMb !== undefined) {
    const bytes = limits.dataMb * 1024 * 1024;
    out.push(`--data=${bytes}:${bytes}`);
  }
  return out;
}

export interface SandboxLayout {
  /** The server's working directory, as the sandbox sees it. */
  cwd: string;
  /** The per-deployment HOME (npm cache, config). */
  home: string;
  /** The resolved executable; bound read-only when it lives outside the default binds. */
  executable: string;
  /** Folders Berth made itself (default working dir, HOME): bound read-write by path. */
  own: string[];
  /** Checked user paths (a chosen cwd, spec.mounts) held open by Berth: bound from the descriptor (child fd number). */
  fdBinds: { fd: number; dest: string; mode: MountMode }[];
  network: NetworkPolicy;
  /** For egress: a file bound over the sandbox's resolv.conf, naming slirp's DNS forwarder. */
  resolvConf?: string;
  /** For egress: bwrap reports the sandbox's pid on `infoFd` and waits on `blockFd` until its network is ready. */
  infoFd?: number;
  blockFd?: number;
}

const SYSTEM_DIRS = ['/usr', '/etc', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** Files under /etc a server has no business reading, masked with /dev/null. */
const MASKED = ['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/etc/sudoers'];

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

/** Folders the server can see besides the system dirs: its working dir, HOME, Berth's own dirs and its mounts. */
function serverDirs(layout: SandboxLayout): string[] {
  return [layout.cwd, layout.home, ...layout.own, ...layout.fdBinds.map((b) => b.dest)];
}

/** Read-only binds beyond the system dirs: the Node installation (when it is not under /usr, so `node`/`npx` servers run) and the executable's folder. */
function extraBinds(layout: SandboxLayout): Set<string> {
  const extra = new Set<string>();
  if (!SYSTEM_DIRS.some((d) => under(process.execPath, d))) extra.add(path.dirname(path.dirname(process.execPath)));
  if (!SYSTEM_DIRS.some((d) => under(layout.executable, d)) && !serverDirs(layout).some((d) => under(layout.executable, d))) {
    extra.add(path.dirname(layout.executable));
  }
  return extra;
}

/**
 * Arguments that name an existing host path the sandboxed server will not see (a script outside its
 * working dir and mounts, say), so the launch can say so instead of leaving the user with "file not found".
 */
export function pathsHiddenBySandbox(args: readonly string[], layout: SandboxLayout): string[] {
  const visible = [...SYSTEM_DIRS, ...extraBinds(layout), ...serverDirs(layout)];
  return args.filter((a) => path.isAbsolute(a) && existsSync(a) && !visible.some((d) => under(path.normalize(a), d)));
}

/** Where a file bound over `/etc/resolv.conf` must go: the end of its symlink chain (systemd-resolved points it into /run). */
export function resolvConfTarget(file = '/etc/resolv.conf'): string | null {
  let p = file;
  for (let i = 0; i < 16; i++) {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return i === 0 ? null : p;
    }
    if (!st.isSymbolicLink()) return p;
    p = path.resolve(path.dirname(p), readlinkSync(p));
  }
  return null;
}

/**
 * The bubblewrap argument list (everything before the command). See the ADR at the top of
 * ./index.ts for why each flag is there.
 */
export function bwrapArgs(layout: SandboxLayout): string[] {
  const args: string[] = [];
  for (const d of SYSTEM_DIRS) args.push(...systemBind(d));
  for (const f of MASKED) if (existsSync(f)) args.push('--ro-bind', '/dev/null', f);
  for (const d of extraBinds(layout)) args.push('--ro-bind', d, d);
  if (layout.network === 'egress' && layout.resolvConf) {
    const target = resolvConfTarget();
    if (target) args.push('--ro-bind', layout.resolvConf, target);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp');
  // After the tmpfs, so working dirs that live under /tmp are still visible; parents before children.
  const binds = [
    ...layout.own.map((d) => ({ dest: d, args: ['--bind', d, d] })),
    ...layout.fdBinds.map((b) => ({ dest: b.dest, args: [b.mode === 'rw' ? '--bind-fd' : '--ro-bind-fd', String(b.fd), b.dest] })),
  ].sort((a, b) => a.dest.split('/').length - b.dest.split('/').length);
  for (const b of binds) args.push(...b.args);
  args.push('--chdir', layout.cwd);
  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--hostname', 'berth-sandbox');
  // egress: the namespace comes from `unshare --net` in front of bwrap (see egressPrefix in ./network.ts).
  if (layout.network === 'none') args.push('--unshare-net');
  if (layout.infoFd !== undefined) args.push('--info-fd', String(layout.infoFd));
  if (layout.blockFd !== undefined) args.push('--block-fd', String(layout.blockFd));
  // As root, bwrap would keep almost every capability; the server needs none.
  args.push('--cap-drop', 'ALL');
  args.push('--die-with-parent');
  return args;
}
