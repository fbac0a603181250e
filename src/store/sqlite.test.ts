import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from './db.js';
import { MIGRATIONS, runMigrations } from './migrations/index.js';
import { openStore } from './sql-store.js';
import { sampleDeployment } from './store.contract.js';

const run = promisify(execFile);

describe('SQLite store durability', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-sqlite-'));
    // A directory that does not exist yet: opening must create it.
    path = join(dir, 'nested', 'data', 'berth.db');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the directory, applies migrations once, and keeps data across close and reopen', async () => {
    const fresh = openDatabase({ kind: 'sqlite', path });
    expect(fresh.dialect).toBe('sqlite');
    expect(existsSync(join(dir, 'nested', 'data'))).toBe(true);
    expect(await runMigrations(fresh.db)).toStrictEqual(Object.keys(MIGRATIONS));
    await fresh.db.destroy();

    const first = await openStore({ kind: 'sqlite', path });
    const created = await first.create(sampleDeployment('keep-me'));
    await first.addRequests('keep-me', 7, '2030-01-01T00:00:00.000Z');
    const updated = await first.update('keep-me', { status: 'running', tools: [{ name: 'echo' }] });
    await first.close();

    const second = await openStore({ kind: 'sqlite', path });
    try {
      expect(await second.get('keep-me')).toStrictEqual({ ...updated, request_count: 7, last_request_at: '2030-01-01T00:00:00.000Z' });
      expect((await second.list()).map((d) => d.id)).toStrictEqual([created.id]);
      expect(await runMigrations(second.db)).toStrictEqual([]);
      const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(second.db);
      expect(applied.rows.map((r) => r.name)).toStrictEqual(Object.keys(MIGRATIONS));
    } finally {
      await second.close();
    }
  });

  it('uses WAL on disk and NORMAL sync, foreign keys and a busy timeout on its connection', async () => {
    const store = await openStore({ kind: 'sqlite', path });
    try {
      const pragma = async (name: string): Promise<unknown> => {
        const { rows } = await sql<Record<string, unknown>>`select * from ${sql.raw(`pragma_${name}`)}`.execute(store.db);
        return Object.values(rows[0] ?? {})[0];
      };
      expect(await pragma('journal_mode')).toBe('wal');
      expect(await pragma('synchronous')).toBe(1); // NORMAL
      expect(await pragma('foreign_keys')).toBe(1);
      expect(Number(await pragma('busy_timeout'))).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
    // WAL is a property of the file: a separate connection sees it too.
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('lets several processes open (and migrate) the same new file at once', async () => {
    const storeModule = pathToFileURL(fileURLToPath(new URL('./sql-store.ts', import.meta.url))).href;
    const script = join(dir, 'open.mts');
    writeFileSync(
      script,
      [
        `import { openStore } from ${JSON.stringify(storeModule)};`,
        // Every child waits for the same instant, so the migrations really race.
        `await new Promise((r) => setTimeout(r, Number(process.argv[4]) - Date.now()));`,
        `const store = await openStore({ kind: 'sqlite', path: process.argv[2] });`,
        `const d = ${JSON.stringify(sampleDeployment('x'))};`,
        `await store.create({ ...d, id: process.argv[3], name: process.argv[3] });`,
        `await store.close();`,
      ].join('\n'),
    );
    const ids = ['proc-a', 'proc-b', 'proc-c', 'proc-d'];
    const startAt = String(Date.now() + 5_000);
    await Promise.all(ids.map((id) => run(process.execPath, ['--import', 'tsx', script, path, id, startAt], { timeout: 30_000 })));

    const store = await openStore({ kind: 'sqlite', path });
    try {
      expect((await store.list()).map((d) => d.id).sort()).toStrictEqual(ids);
      const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(store.db);
      expect(applied.rows).toHaveLength(Object.keys(MIGRATIONS).length);
    } finally {
      await store.close();
    }
  });
});
