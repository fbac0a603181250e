import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../core/errors.js';
import { MountGuard } from './mounts.js';

function refusal(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('MountGuard', () => {
  let base: string;
  let root: string;
  let dataDir: string;
  let keyDir: string;
  let guard: MountGuard;

  beforeEach(() => {
    base = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'berth-mounts-')));
    root = path.join(base, 'srv');
    dataDir = path.join(root, 'berth-data');
    keyDir = path.join(base, 'keys');
    for (const d of [path.join(root, 'proj', 'sub'), dataDir, keyDir, path.join(base, 'outside')]) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(keyDir, 'master.key'), 'k');
    guard = new MountGuard({ roots: [root, keyDir], forbidden: [dataDir, path.join(keyDir, 'master.key')] });
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('internal mounts: inside the data dir only under an internal folder, never a spec path there, and never the key file', () => {
    const entries = path.join(dataDir, 'packages', 'entries');
    const entry = path.join(entries, 'npm', 'x@1.0.0-abc');
    mkdirSync(entry, { recursive: true });
    mkdirSync(path.join(dataDir, 'work'));
    const g = new MountGuard({ roots: [root], forbidden: [dataDir, path.join(keyDir, 'master.key')], internal: [entries] });
    const opened = g.openInternal(entry);
    closeSync(opened.fd);
    expect(opened).toMatchObject({ real: entry, dest: entry });
    // Outside Berth's data (an interpreter's folder), internal mounts need no mount root.
    closeSync(g.openInternal(path.join(base, 'outside')).fd);
    for (const p of [entries, path.join(dataDir, 'work'), dataDir, keyDir, '/']) expect(refusal(() => g.openInternal(p)).code).toBe('MOUNT_NOT_ALLOWED');
    // A symlink in the cache pointing elsewhere in the data dir binds nothing new.
    symlinkSync(path.join(dataDir, 'work'), path.join(entries, 'npm', 'sneaky'));
    expect(refusal(() => g.openInternal(path.join(entries, 'npm', 'sneaky'))).code).toBe('MOUNT_NOT_ALLOWED');
    // A spec's mount may not use the internal folder.
    expect(refusal(() => g.check(entry, 'mounts[0]')).code).toBe('MOUNT_NOT_ALLOWED');
    expect(() => new MountGuard({ roots: [], forbidden: [dataDir, path.join(keyDir, 'master.key')], internal: [keyDir] })).toThrow(/overlaps protected path/);
  });

  it('accepts a folder under a root and returns where it really is', () => {
    expect(guard.check(path.join(root, 'proj'), 'cwd')).toBe(path.join(root, 'proj'));
    expect(guard.check(`${root}/proj/sub/../sub/`, 'mounts[0]')).toBe(path.join(root, 'proj', 'sub'));
    symlinkSync(path.join(root, 'proj'), path.join(root, 'alias'));
    expect(guard.check(path.join(root, 'alias'), 'cwd')).toBe(path.join(root, 'proj'));
  });

  it('refuses paths outside the roots, naming the setting that allows them', () => {
    const e = refusal(() => guard.check(path.join(base, 'outside'), 'mounts[0]'));
    expect(e.code).toBe('MOUNT_NOT_ALLOWED');
    expect(e.status).toBe(400);
    expect(e.message).toMatch(/^mounts\[0\] .*outside is not under an allowed mount root .*BERTH_MOUNT_ROOTS/);
    expect(refusal(() => new MountGuard({ roots: [], forbidden: [] }).check(path.join(root, 'proj'), 'cwd')).message).toMatch(/none is set/);
  });

  it('refuses "/" even when it is a root', () => {
    const wide = new MountGuard({ roots: ['/'], forbidden: [dataDir] });
    expect(refusal(() => wide.check('/', 'cwd')).message).toMatch(/root folder/);
    expect(wide.check(path.join(root, 'proj'), 'cwd')).toBe(path.join(root, 'proj'));
  });

  it("refuses Berth's data dir, anything above or below it, and the key file and its folder", () => {
    const wide = new MountGuard({ roots: ['/'], forbidden: [dataDir] });
    mkdirSync(path.join(dataDir, 'logs'));
    for (const p of [dataDir, root, base, path.join(dataDir, 'logs')]) expect(refusal(() => wide.check(p, 'cwd')).message).toMatch(/overlaps Berth's own data/);
    mkdirSync(path.join(dataDir, 'work', 'x'), { recursive: true });
    expect(refusal(() => guard.check(path.join(dataDir, 'work', 'x'), 'cwd')).message).toMatch(/overlaps Berth's own data/);
    expect(refusal(() => guard.check(keyDir, 'mounts[0]')).message).toMatch(/overlaps/);
    expect(refusal(() => guard.check(path.join(keyDir, 'master.key'), 'mounts[0]')).message).toMatch(/overlaps/);
  });

  it('follows symlinks before checking: a link inside a root to the outside or to the data dir is refused', () => {
    symlinkSync(path.join(base, 'outside'), path.join(root, 'escape'));
    symlinkSync(dataDir, path.join(root, 'proj', 'data-link'));
    symlinkSync('/', path.join(root, 'slash'));
    expect(refusal(() => guard.check(path.join(root, 'escape'), 'cwd')).message).toMatch(/not under an allowed mount root/);
    expect(refusal(() => guard.check(path.join(root, 'proj', 'data-link'), 'cwd')).message).toMatch(/overlaps Berth's own data/);
    expect(refusal(() => guard.check(path.join(root, 'slash'), 'cwd')).message).toMatch(/root folder/);
  });

  it('refuses a path that does not exist, and protects a key file that does not exist yet', () => {
    expect(refusal(() => guard.check(path.join(root, 'nope'), 'cwd')).message).toMatch(/nope does not exist on the Berth host/);
    const later = new MountGuard({ roots: [base], forbidden: [path.join(base, 'keys', 'later.key')] });
    expect(refusal(() => later.check(keyDir, 'mounts[0]')).message).toMatch(/overlaps/);
  });

  it('open() holds what was checked: the descriptor keeps pointing there after the path is swapped for a symlink', () => {
    const dir = path.join(root, 'proj');
    const m = guard.open(dir, 'cwd');
    try {
      expect(m).toMatchObject({ real: dir, dest: dir });
      renameSync(dir, path.join(root, 'moved'));
      symlinkSync(path.join(base, 'outside'), dir);
      expect(readlinkSync(`/proc/self/fd/${m.fd}`)).toBe(path.join(root, 'moved'));
    } finally {
      closeSync(m.fd);
    }
    // Opened afresh, the same path now resolves outside and is refused.
    expect(refusal(() => guard.open(dir, 'cwd')).message).toMatch(/not under an allowed mount root/);
  });

  it('open() refuses a FIFO without blocking on it', () => {
    const fifo = path.join(root, 'proj', 'pipe');
    execFileSync('mkfifo', [fifo]);
    expect(refusal(() => guard.open(fifo, 'mounts[0]')).message).toMatch(/neither a folder nor a regular file/);
  });
});
