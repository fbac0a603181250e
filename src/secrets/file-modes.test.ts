import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { protectDataFiles } from './file-modes.js';

const modeOf = (p: string) => statSync(p).mode & 0o777;

describe('protectDataFiles', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'berth-modes-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('creates the data dir 0700 and an empty database file 0600', () => {
    const dataDir = join(root, 'data');
    protectDataFiles({ dataDir, sqlitePath: join(dataDir, 'berth.db') });
    expect(modeOf(dataDir)).toBe(0o700);
    expect(modeOf(join(dataDir, 'berth.db'))).toBe(0o600);
    expect(statSync(join(dataDir, 'berth.db')).size).toBe(0);
  });

  it("fixes what an older Berth left readable, leaves the servers' work dirs and links alone", () => {
    const dataDir = join(root, 'data');
    const logs = join(dataDir, 'logs');
    const work = join(dataDir, 'work', 'dep-1');
    mkdirSync(logs, { recursive: true, mode: 0o755 });
    mkdirSync(work, { recursive: true, mode: 0o755 });
    chmodSync(dataDir, 0o755);
    chmodSync(logs, 0o755);
    for (const f of ['berth.db', 'berth.db-wal', 'berth.db-shm']) writeFileSync(join(dataDir, f), 'x', { mode: 0o644 });
    writeFileSync(join(logs, 'dep-1.log'), '{}\n', { mode: 0o644 });
    writeFileSync(join(work, 'server-file'), 'x', { mode: 0o644 });
    writeFileSync(join(root, 'elsewhere'), 'x', { mode: 0o644 });
    symlinkSync(join(root, 'elsewhere'), join(logs, 'link.log'));
    const fixed = protectDataFiles({ dataDir, sqlitePath: join(dataDir, 'berth.db'), privateDirs: [logs] });
    expect(modeOf(dataDir)).toBe(0o700);
    expect(modeOf(logs)).toBe(0o700);
    for (const f of ['berth.db', 'berth.db-wal', 'berth.db-shm']) expect(modeOf(join(dataDir, f))).toBe(0o600);
    expect(modeOf(join(logs, 'dep-1.log'))).toBe(0o600);
    expect(modeOf(join(work, 'server-file'))).toBe(0o644);
    expect(modeOf(work)).toBe(0o755);
    expect(modeOf(join(root, 'elsewhere'))).toBe(0o644);
    expect(fixed).toHaveLength(6);
    expect(protectDataFiles({ dataDir, sqlitePath: join(dataDir, 'berth.db'), privateDirs: [logs] })).toStrictEqual([]);
  });
});
