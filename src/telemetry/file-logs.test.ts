import { existsSync, mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileLogStore } from './file-logs.js';
import type { LogEntry } from './logs.js';

let dir: string;
const open: FileLogStore[] = [];

function store(opts: Partial<ConstructorParameters<typeof FileLogStore>[0]> = {}): FileLogStore {
  const s = new FileLogStore({ dir, ...opts });
  open.push(s);
  return s;
}

async function fileEntries(file: string): Promise<LogEntry[]> {
  const text = await fsp.readFile(file, 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogEntry);
}

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-logs-'));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('FileLogStore', () => {
  it('appends, reads and tails in order with increasing seq', async () => {
    const s = store();
    for (let i = 1; i <= 5; i++) s.append('d1', i % 2 ? 'stderr' : 'system', `line ${i}`);
    s.append('d2', 'stdout', 'other');
    const all = await s.read('d1');
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(all[1]).toMatchObject({ stream: 'system', line: 'line 2' });
    expect(Number.isNaN(Date.parse(all[0]!.ts))).toBe(false);
    expect((await s.read('d1', { tail: 2 })).map((e) => e.line)).toEqual(['line 4', 'line 5']);
    expect(await s.read('d2')).toHaveLength(1);
    expect(await s.read('nobody')).toEqual([]);
  });

  it('writes JSON lines to <dir>/<id>.log, buffered until flush', async () => {
    const s = store({ flushIntervalMs: 10_000 });
    s.append('d1', 'stderr', 'a');
    s.append('d1', 'stderr', 'b');
    expect(existsSync(path.join(dir, 'd1.log'))).toBe(false);
    await s.flush();
    expect((await fileEntries(path.join(dir, 'd1.log'))).map((e) => e.line)).toEqual(['a', 'b']);
  });

  it('follow delivers new entries until unsubscribed', async () => {
    const s = store();
    s.append('d1', 'stderr', 'before');
    const got: string[] = [];
    const stop = s.follow('d1', (e) => got.push(`${e.seq}:${e.line}`));
    s.append('d1', 'stderr', 'one');
    s.append('d2', 'stderr', 'elsewhere');
    s.append('d1', 'system', 'two');
    stop();
    s.append('d1', 'stderr', 'after');
    expect(got).toEqual(['2:one', '3:two']);
  });

  it('a throwing follower does not break append or other followers', async () => {
    const s = store();
    const got: number[] = [];
    s.follow('d1', () => {
      throw new Error('boom');
    });
    s.follow('d1', (e) => got.push(e.seq));
    s.append('d1', 'stderr', 'x');
    expect(got).toEqual([1]);
  });

  it('persists across instances and continues seq', async () => {
    const a = store();
    for (let i = 0; i < 3; i++) a.append('d1', 'stderr', `a${i}`);
    await a.close();
    const b = store();
    expect((await b.read('d1')).map((e) => e.line)).toEqual(['a0', 'a1', 'a2']);
    b.append('d1', 'stderr', 'b0');
    expect((await b.read('d1', { tail: 1 }))[0]).toMatchObject({ seq: 4, line: 'b0' });
    await b.close();
    expect((await fileEntries(path.join(dir, 'd1.log'))).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  it('seals a line torn by a crash and continues after the last good seq', async () => {
    await fsp.writeFile(path.join(dir, 'd1.log'), `${JSON.stringify({ seq: 7, ts: new Date().toISOString(), stream: 'stderr', line: 'ok' })}\n{"seq":8,"ts":"2`);
    const s = store();
    s.append('d1', 'stderr', 'next');
    await s.close();
    const entries = await fileEntries(path.join(dir, 'd1.log')).catch(() => null);
    expect(entries).toBeNull(); // the torn line is still there, on its own line
    const lines = (await fsp.readFile(path.join(dir, 'd1.log'), 'utf8')).split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[2]!)).toMatchObject({ seq: 8, line: 'next' });
  });

  it('reads beyond the ring from the files', async () => {
    const s = store({ ringSize: 5 });
    for (let i = 1; i <= 20; i++) s.append('d1', 'stderr', `l${i}`);
    expect((await s.read('d1', { tail: 3 })).map((e) => e.seq)).toEqual([18, 19, 20]);
    expect((await s.read('d1', { tail: 10 })).map((e) => e.seq)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  });

  it('rotates to one .log.1 at the size cap and keeps seq across rotation and restart', async () => {
    const s = store({ maxFileBytes: 2000, flushIntervalMs: 0 });
    for (let i = 1; i <= 60; i++) {
      s.append('d1', 'stderr', `line number ${i} ${'x'.repeat(40)}`);
      await s.flush();
    }
    await s.close();
    const names = (await fsp.readdir(dir)).sort();
    expect(names).toEqual(['d1.log', 'd1.log.1']);
    expect((await fsp.stat(path.join(dir, 'd1.log'))).size).toBeLessThanOrEqual(2000);
    expect((await fsp.stat(path.join(dir, 'd1.log.1'))).size).toBeLessThanOrEqual(2000);
    const cur = await fileEntries(path.join(dir, 'd1.log'));
    const old = await fileEntries(path.join(dir, 'd1.log.1'));
    expect(cur.at(-1)?.seq).toBe(60);
    expect(old.at(-1)!.seq + 1).toBe(cur[0]!.seq); // contiguous
    expect(old[0]!.seq).toBeGreaterThan(1); // the oldest rotation was discarded

    const again = store({ maxFileBytes: 2000, ringSize: 1000 });
    again.append('d1', 'stderr', 'after restart');
    const read = await again.read('d1', { tail: 1000 });
    expect(read.at(-1)).toMatchObject({ seq: 61, line: 'after restart' });
    expect(read[0]!.seq).toBe(old[0]!.seq);
  });

  it('truncates long lines with a marker', async () => {
    const s = store();
    s.append('d1', 'stderr', 'x'.repeat(40_000));
    s.append('d1', 'stderr', 'é'.repeat(20_000)); // 2 bytes per char
    s.append('d1', 'stderr', 'short');
    await s.close();
    const entries = await fileEntries(path.join(dir, 'd1.log'));
    for (const e of entries.slice(0, 2)) {
      expect(Buffer.byteLength(e.line)).toBeLessThanOrEqual(16 * 1024);
      expect(e.line).toMatch(/…\[truncated \d+ bytes\]$/);
      expect(e.line).not.toContain('\uFFFD');
    }
    expect(entries[0]!.line).toMatch(/truncated 23\d\d\d bytes/);
    expect(entries[2]!.line).toBe('short');
  });

  it('redacts before storing and before followers see the line', async () => {
    const s = store({ redact: (l) => l.replaceAll('hunter2', '[REDACTED]') });
    const seen: string[] = [];
    s.follow('d1', (e) => seen.push(e.line));
    s.append('d1', 'stderr', 'password=hunter2 ok');
    await s.close();
    expect(seen).toEqual(['password=[REDACTED] ok']);
    expect(await fsp.readFile(path.join(dir, 'd1.log'), 'utf8')).not.toContain('hunter2');
    const failing = store({ redact: () => { throw new Error('bad'); } });
    failing.append('d2', 'stderr', 'hunter2');
    expect((await failing.read('d2'))[0]!.line).not.toContain('hunter2');
  });

  it("hands the redactor each line's deployment, so each deployment's own values are masked", async () => {
    const values: Record<string, string> = { d1: 'alpha-secret', d2: 'bravo-secret' };
    const s = store({ redact: (l, id) => l.replaceAll(values[id] ?? '\0', '[REDACTED]') });
    s.append('d1', 'stderr', 'alpha-secret bravo-secret');
    s.append('d2', 'stderr', 'alpha-secret bravo-secret');
    expect((await s.read('d1'))[0]!.line).toBe('[REDACTED] bravo-secret');
    expect((await s.read('d2'))[0]!.line).toBe('alpha-secret [REDACTED]');
  });

  it('keeps its folder 0700 and its files 0600, whatever the umask', async () => {
    const nested = path.join(dir, 'logs');
    const previous = process.umask(0o022);
    try {
      const s = store({ dir: nested, flushIntervalMs: 0 });
      s.append('d1', 'stderr', 'a line');
      await s.flush();
    } finally {
      process.umask(previous);
    }
    expect((await fsp.stat(nested)).mode & 0o777).toBe(0o700);
    expect((await fsp.stat(path.join(nested, 'd1.log'))).mode & 0o777).toBe(0o600);
  });

  it('remove deletes the files and the history; append after close is dropped', async () => {
    const s = store({ maxFileBytes: 200, flushIntervalMs: 0 });
    for (let i = 0; i < 10; i++) {
      s.append('d1', 'stderr', `line ${i} ${'y'.repeat(30)}`);
      await s.flush();
    }
    expect(existsSync(path.join(dir, 'd1.log.1'))).toBe(true);
    await s.remove('d1');
    expect(await fsp.readdir(dir)).toEqual([]);
    expect(await s.read('d1')).toEqual([]);
    await s.close();
    s.append('d1', 'stderr', 'late');
    await new Promise((r) => setTimeout(r, 20));
    expect(await fsp.readdir(dir)).toEqual([]);
  });

  it('rejects bad options and unsafe ids loudly', () => {
    expect(() => new FileLogStore({ dir: '' })).toThrow(/dir is required/);
    expect(() => new FileLogStore({ dir, maxFileBytes: 0 })).toThrow(/maxFileBytes/);
    expect(() => new FileLogStore({ dir, ringSize: 1.5 })).toThrow(/ringSize/);
    expect(() => store().append('../etc/passwd', 'stderr', 'x')).toThrow(/invalid deployment id/);
  });
});
