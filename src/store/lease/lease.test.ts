import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTempDatabase, PG_URL, withPostgres } from '../testing/postgres.js';
import { FileLease } from './file-lease.js';
import { runLeaseContract } from './lease.contract.js';
import { MemoryLease, MemoryLeaseBoard } from './memory-lease.js';
import { lockKey, PgLease } from './pg-lease.js';

runLeaseContract('memory', async () => {
  const board = new MemoryLeaseBoard();
  return {
    make: () => new MemoryLease(board),
    lose: async (lease) => (lease as MemoryLease).revoke('test'),
    cleanup: async () => undefined,
  };
});

runLeaseContract('file (SQLite)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-lease-'));
  const path = join(dir, 'berth.db.lock');
  return {
    make: () => new FileLease({ path, staleMs: 30_000, heartbeatMs: 20 }),
    // What a loss looks like to a file holder: its file removed (by an operator, or by a Berth that judged it stale).
    lose: async () => rmSync(path),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

await withPostgres('the Lease contract', () => {
  runLeaseContract('postgres', async () => {
    const temp = await createTempDatabase();
    return {
      make: () => new PgLease({ url: temp.url, checkMs: 200 }),
      // A dropped connection: the server ends the session that holds the lock.
      lose: async () => {
        const admin = new pg.Client({ connectionString: temp.url });
        await admin.connect();
        try {
          const r = await admin.query(
            `select pg_terminate_backend(l.pid) as ok from pg_locks l where l.locktype = 'advisory' and l.granted and l.objsubid = 2 and l.objid = $1::bigint::oid
               and l.database = (select oid from pg_database where datname = current_database())`,
            [lockKey(new URL(temp.url).pathname.slice(1))],
          );
          expect(r.rows).toEqual([{ ok: true }]);
        } finally {
          await admin.end();
        }
      },
      cleanup: () => temp.drop(),
    };
  });

  describe('PgLease', () => {
    it('is per database: a Berth on another database of the same server is not a contender', async () => {
      const one = await createTempDatabase();
      const two = await createTempDatabase();
      const a = new PgLease({ url: one.url, checkMs: 1000 });
      const b = new PgLease({ url: two.url, checkMs: 1000 });
      try {
        expect(await a.acquire()).toBe(true);
        expect(await b.acquire()).toBe(true);
      } finally {
        await a.release();
        await b.release();
        await one.drop();
        await two.drop();
      }
    });

    it('fails loudly when PostgreSQL cannot be reached', async () => {
      const url = new URL(PG_URL);
      url.port = '1';
      const lease = new PgLease({ url: url.toString(), checkMs: 1000 });
      await expect(lease.acquire()).rejects.toThrow();
      expect(lease.held).toBe(false);
    });
  });
});

describe('FileLease across processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-lease-proc-'));
  const children: ChildProcess[] = [];
  let n = 0;
  const lockPath = (): string => join(dir, `db${++n}.lock`);
  const script = resolve(import.meta.dirname, '../testing/lease-child.ts');

  async function child(path: string, staleMs = 30_000): Promise<{ proc: ChildProcess; held: boolean; pid: number }> {
    const proc = spawn(process.execPath, ['--import', 'tsx', script, path, String(staleMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(proc);
    const line = await new Promise<string>((res, rej) => {
      let buf = '';
      proc.stdout!.on('data', (c: Buffer) => {
        buf += c.toString();
        const i = buf.indexOf('\n');
        if (i !== -1) res(buf.slice(0, i));
      });
      proc.once('exit', (code) => rej(new Error(`lease child exited with ${code}`)));
    });
    return { proc, ...(JSON.parse(line) as { held: boolean; pid: number }) };
  }
  const exited = (p: ChildProcess): Promise<void> => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

  afterEach(async () => {
    for (const c of children.splice(0)) {
      c.kill('SIGKILL');
      await exited(c);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused while another process holds it, names that process, and is free after it releases', async () => {
    const path = lockPath();
    const holder = await child(path);
    expect(holder.held).toBe(true);
    const me = new FileLease({ path, staleMs: 30_000 });
    expect(await me.acquire()).toBe(false);
    expect(await me.holder()).toMatchObject({ pid: holder.pid, host: hostname() });
    holder.proc.kill('SIGTERM');
    await exited(holder.proc);
    expect(existsSync(path)).toBe(false);
    expect(await me.acquire()).toBe(true);
    await me.release();
  });

  it('is taken over at once from a holder that was killed (SIGKILL leaves the file; its pid is dead)', async () => {
    const path = lockPath();
    const holder = await child(path);
    expect(holder.held).toBe(true);
    const me = new FileLease({ path, staleMs: 30_000 });
    expect(await me.acquire()).toBe(false);
    holder.proc.kill('SIGKILL');
    await exited(holder.proc);
    expect(existsSync(path)).toBe(true);
    expect(await me.acquire()).toBe(true);
    expect(await me.holder()).toMatchObject({ pid: process.pid });
    await me.release();
  });

  it('goes to exactly one of several processes starting at once', async () => {
    const path = lockPath();
    const all = await Promise.all(Array.from({ length: 4 }, () => child(path)));
    expect(all.filter((c) => c.held)).toHaveLength(1);
  });

  it('is stale when its pid now belongs to another process, or its heartbeat is old; a fresh one from another host is not', async () => {
    const path = lockPath();
    const me = new FileLease({ path, staleMs: 30_000 });
    const record = (over: Record<string, unknown>): string => JSON.stringify({ token: 't', pid: process.ppid, host: hostname(), proc_start: '1', started_at: new Date().toISOString(), ...over });
    // Our parent is alive, but started at another time than the record says: a reused pid.
    writeFileSync(path, record({}));
    expect(await me.acquire()).toBe(true);
    await me.release();
    // Another host: its pid means nothing here; only the heartbeat counts.
    writeFileSync(path, record({ host: 'elsewhere.example', pid: 1, proc_start: null }));
    expect(await me.acquire()).toBe(false);
    expect(await me.holder()).toMatchObject({ pid: 1, host: 'elsewhere.example' });
    const old = new Date(Date.now() - 60_000);
    utimesSync(path, old, old);
    expect(await me.acquire()).toBe(true);
    await me.release();
    // A file being written (no record yet) is not stale while fresh.
    writeFileSync(path, '');
    expect(await me.acquire()).toBe(false);
    utimesSync(path, old, old);
    expect(await me.acquire()).toBe(true);
    await me.release();
  });
});
