import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../core/errors.js';
import { DEFAULT_ZIP_LIMITS, extractZip, type ZipLimits } from './extract.js';
import { writeZip, type TestEntry } from './testing/zip-writer.js';

let work = '';
let dest = '';
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'berth-zip-'));
  dest = path.join(work, 'workspace');
  mkdirSync(dest);
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function zipOf(entries: TestEntry[]): string {
  const file = path.join(work, 'upload.zip');
  writeFileSync(file, writeZip(entries));
  return file;
}

async function refusal(entries: TestEntry[], limits: ZipLimits = DEFAULT_ZIP_LIMITS): Promise<{ code: string; message: string; entry: unknown }> {
  const err = await extractZip(zipOf(entries), dest, limits).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  const b = err as BerthError;
  return { code: b.code, message: b.message, entry: (b.details as { entry?: unknown } | undefined)?.entry };
}

/** Every file under `dir`, as paths relative to `work` (the parent of the workspace). */
function everythingUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).map((p) => path.relative(work, path.join(dir, p))).sort();
}

describe('extractZip', () => {
  it('unpacks files and folders, deflated and stored, and reports what it wrote', async () => {
    const big = Buffer.from('x'.repeat(10_000));
    const out = await extractZip(
      zipOf([
        { name: 'package.json', data: Buffer.from('{"name":"s"}') },
        { name: 'src/' },
        { name: 'src/index.js', data: Buffer.from('console.log(1)'), method: 'store' },
        { name: 'dist/big.txt', data: big },
      ]),
      dest,
      { ...DEFAULT_ZIP_LIMITS, maxRatio: 1000 },
    );
    expect(out).toStrictEqual({ files: 3, folders: 1, bytes: 12 + 14 + 10_000 });
    expect(readFileSync(path.join(dest, 'src/index.js'), 'utf8')).toBe('console.log(1)');
    expect(readFileSync(path.join(dest, 'dist/big.txt'))).toStrictEqual(big);
  });

  it.each([
    ['../evil.js', 'ZIP_PATH_TRAVERSAL'],
    ['src/../../evil.js', 'ZIP_PATH_TRAVERSAL'],
    ['..\\evil.js', 'ZIP_PATH_TRAVERSAL'],
    ['/etc/evil', 'ZIP_ABSOLUTE_PATH'],
    ['C:/evil', 'ZIP_ABSOLUTE_PATH'],
  ])('refuses the entry %s with %s and names it, writing nothing outside', async (name, code) => {
    const r = await refusal([{ name: 'ok.txt', data: Buffer.from('ok') }, { name, data: Buffer.from('owned') }]);
    expect(r.code).toBe(code);
    expect(r.entry).toBe(name);
    expect(r.message).toContain(JSON.stringify(name));
    expect(everythingUnder(work).filter((p) => !p.startsWith('workspace') && p !== 'upload.zip')).toStrictEqual([]);
  });

  it('refuses symbolic links, devices and pipes', async () => {
    expect((await refusal([{ name: 'link', data: Buffer.from('/etc/passwd'), mode: 0o120777 }])).code).toBe('ZIP_SYMLINK');
    expect((await refusal([{ name: 'dev', mode: 0o020666 }])).code).toBe('ZIP_SPECIAL_ENTRY');
    expect((await refusal([{ name: 'fifo', mode: 0o010644 }])).code).toBe('ZIP_SPECIAL_ENTRY');
    expect(existsSync(path.join(dest, 'link'))).toBe(false);
  });

  it('never follows a link planted in the workspace', async () => {
    const outside = path.join(work, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, path.join(dest, 'lib'));
    symlinkSync(path.join(outside, 'x.js'), path.join(dest, 'x.js'));
    expect((await refusal([{ name: 'lib/a.js', data: Buffer.from('owned') }])).code).toBe('ZIP_PATH_TRAVERSAL');
    expect((await refusal([{ name: 'x.js', data: Buffer.from('owned') }])).code).toBe('ZIP_DUPLICATE_ENTRY');
    expect(readdirSync(outside)).toStrictEqual([]);
  });

  it('refuses a second entry with the same path', async () => {
    const r = await refusal([{ name: 'a.js', data: Buffer.from('1') }, { name: 'a.js', data: Buffer.from('2') }]);
    expect(r.code).toBe('ZIP_DUPLICATE_ENTRY');
    expect(readFileSync(path.join(dest, 'a.js'), 'utf8')).toBe('1');
  });

  it('caps entries, file size, total size and the compression ratio', async () => {
    const limits: ZipLimits = { maxEntries: 3, maxFileBytes: 1000, maxTotalBytes: 1500, maxRatio: 50 };
    const files = (n: number, size: number): TestEntry[] => Array.from({ length: n }, (_, i) => ({ name: `f${i}`, data: Buffer.from(`${i}`.repeat(size)), method: 'store' as const }));
    expect((await refusal(files(4, 1), limits)).code).toBe('ZIP_TOO_MANY_ENTRIES');
    expect((await refusal(files(1, 1001), limits)).code).toBe('ZIP_FILE_TOO_LARGE');
    rmSync(dest, { recursive: true });
    mkdirSync(dest);
    expect((await refusal(files(2, 800), limits)).code).toBe('ZIP_TOO_LARGE');
    rmSync(dest, { recursive: true });
    mkdirSync(dest);
    expect((await refusal([{ name: 'zeros', data: Buffer.alloc(900) }], limits)).code).toBe('ZIP_RATIO_TOO_HIGH');
  });

  it('counts bytes actually written: a bomb that lies about its size, or overlaps its entries, is stopped', async () => {
    const limits: ZipLimits = { maxEntries: 100, maxFileBytes: 10_000, maxTotalBytes: 30_000, maxRatio: 1_000_000 };
    const noise = Buffer.from(Array.from({ length: 9000 }, (_, i) => (i * 7919) % 251));
    // Declared 10 bytes, really 9000: yauzl's size check or Berth's own count stops it.
    const lying = await refusal([{ name: 'liar', data: Buffer.concat([noise, noise]), declaredSize: 10, method: 'store' }], limits);
    expect(['ZIP_FILE_TOO_LARGE', 'ZIP_INVALID']).toContain(lying.code);
    rmSync(dest, { recursive: true });
    mkdirSync(dest);
    // Five names over one stored 9000-byte body: 45 kB unpacked from 9 kB.
    const overlap = await refusal([{ name: 'a', data: noise, method: 'store' }, ...['b', 'c', 'd', 'e'].map((n) => ({ name: n, sameDataAs: 0 }))], limits);
    expect(overlap.code).toBe('ZIP_TOO_LARGE');
    expect(overlap.entry).toBe('d');
  });

  it('refuses what is not a ZIP archive', async () => {
    const file = path.join(work, 'not.zip');
    writeFileSync(file, 'hello, this is not a zip');
    await expect(extractZip(file, dest)).rejects.toMatchObject({ code: 'ZIP_INVALID' });
  });
});
