/**
 * Berth's own files at rest: the data dir is 0700 and what holds secrets or their traces (the SQLite
 * database with its -wal/-shm/-journal, the logs, pid files, the key file) is 0600. New files get
 * these modes from the umask main.ts sets; this fixes what an older Berth (or another umask) left.
 *
 * The per-deployment working dirs under `work/` are not touched: they are bind-mounted into the
 * sandboxes and hold the servers' own files, whose modes are the servers' business.
 */
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Files and dirs whose mode was changed, for one log line. */
export type Fixed = string[];

function fix(path: string, mode: number, want: 'file' | 'dir', fixed: Fixed): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // not there (yet)
  }
  // Never follow a link, and never widen a mode: only take bits away.
  if (st.isSymbolicLink() || (want === 'dir' ? !st.isDirectory() : !st.isFile())) return;
  if ((st.mode & 0o777 & ~mode) === 0) return;
  chmodSync(path, st.mode & 0o777 & mode);
  fixed.push(path);
}

function fixChildren(dir: string, fixed: Fixed): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) fix(join(dir, name), PRIVATE_FILE_MODE, 'file', fixed);
}

export interface DataFiles {
  dataDir: string;
  /** The SQLite database file, when the store is SQLite (it may live outside the data dir). */
  sqlitePath?: string;
  /** Directories under the data dir whose files are Berth's own (logs, pid files). */
  privateDirs?: string[];
}

/**
 * Creates the data dir (0700) and, for SQLite, an empty database file (0600) so SQLite, which gives
 * its -wal and -shm files the mode of the database file, never creates any of them readable by others.
 * Then takes group and other permissions away from what already exists. Returns what it changed.
 */
export function protectDataFiles(files: DataFiles): Fixed {
  const fixed: Fixed = [];
  mkdirSync(files.dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  fix(files.dataDir, PRIVATE_DIR_MODE, 'dir', fixed);
  for (const dir of files.privateDirs ?? []) {
    fix(dir, PRIVATE_DIR_MODE, 'dir', fixed);
    fixChildren(dir, fixed);
  }
  if (files.sqlitePath !== undefined && files.sqlitePath !== ':memory:') {
    mkdirSync(dirname(files.sqlitePath), { recursive: true, mode: PRIVATE_DIR_MODE });
    closeSync(openSync(files.sqlitePath, 'a', PRIVATE_FILE_MODE));
    for (const suffix of ['', '-wal', '-shm', '-journal']) fix(`${files.sqlitePath}${suffix}`, PRIVATE_FILE_MODE, 'file', fixed);
  }
  return fixed;
}
