import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { createSourceStore, type SourceStore } from './store.js';
import { writeZip, type TestEntry } from './zip/testing/zip-writer.js';

let work = '';
let store: SourceStore;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'berth-sources-'));
  store = createSourceStore({ dir: path.join(work, 'sources'), maxBytes: 1024 * 1024 });
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const zipStream = (entries: TestEntry[]): Readable => Readable.from([writeZip(entries)]);

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(BerthError);
  return (err as BerthError).code;
}

/** Everything under `dir` (relative), as a sorted list. */
const under = (dir: string): string[] => (existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).sort() : []);

describe('SourceStore', () => {
  it('stores a ZIP as a read-only tree under its digest, and gives it back by digest', async () => {
    const s = await store.putZip(zipStream([{ name: 'package.json', data: Buffer.from('{"name":"x"}') }, { name: 'src/' }, { name: 'src/index.js', data: Buffer.from('console.log(1)') }]));
    expect(s.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(s.files).toBe(2);
    expect(s.bytes).toBe(12 + 14);
    expect(s.root).toBe(path.join(work, 'sources', 'trees', s.digest.slice(7)));
    expect(readFileSync(path.join(s.root, 'src/index.js'), 'utf8')).toBe('console.log(1)');
    expect(statSync(path.join(s.root, 'package.json')).mode & 0o222).toBe(0);
    expect(await store.get(s.digest)).toStrictEqual(s);
    expect(await store.get(`sha256:${'0'.repeat(64)}`)).toBeNull();
    expect(await store.get('sha256:../../etc')).toBeNull();
    // The temp space is empty again.
    expect(under(path.join(work, 'sources', 'tmp'))).toStrictEqual([]);
  });

  it('gives the same digest to the same content, as a ZIP (any order) or a folder, and stores it once', async () => {
    const a = await store.putZip(zipStream([{ name: 'a.txt', data: Buffer.from('A') }, { name: 'bin/run', data: Buffer.from('#!/bin/sh'), mode: 0o100755 }]));
    const b = await store.putZip(zipStream([{ name: 'bin/run', data: Buffer.from('#!/bin/sh'), mode: 0o100755 }, { name: 'a.txt', data: Buffer.from('A') }]));
    expect(b.digest).toBe(a.digest);
    const folder = path.join(work, 'folder');
    mkdirSync(path.join(folder, 'bin'), { recursive: true });
    mkdirSync(path.join(folder, '.git'));
    writeFileSync(path.join(folder, '.git', 'HEAD'), 'ref');
    writeFileSync(path.join(folder, 'a.txt'), 'A');
    writeFileSync(path.join(folder, 'bin/run'), '#!/bin/sh');
    chmodSync(path.join(folder, 'bin/run'), 0o755);
    const c = await store.putTree(folder);
    expect(c.digest).toBe(a.digest);
    expect(readdirSync(path.join(work, 'sources', 'trees')).filter((n) => !n.endsWith('.json'))).toHaveLength(1);
    expect(statSync(path.join(c.root, 'bin/run')).mode & 0o111).not.toBe(0);
    // The executable bit is part of the content.
    const d = await store.putZip(zipStream([{ name: 'a.txt', data: Buffer.from('A') }, { name: 'bin/run', data: Buffer.from('#!/bin/sh') }]));
    expect(d.digest).not.toBe(a.digest);
  });

  it('refuses a hostile ZIP with the extractor\'s code, leaving nothing in the store', async () => {
    expect(await codeOf(store.putZip(zipStream([{ name: '../evil', data: Buffer.from('x') }])))).toBe('ZIP_PATH_TRAVERSAL');
    expect(await codeOf(store.putZip(zipStream([{ name: 'l', data: Buffer.from('/etc/passwd'), mode: 0o120777 }])))).toBe('ZIP_SYMLINK');
    expect(await codeOf(store.putZip(Readable.from([Buffer.from('not a zip at all')])))).toBe('ZIP_INVALID');
    expect(await codeOf(store.putZip(Readable.from([])))).toBe('ZIP_INVALID');
    expect(await codeOf(store.putZip(zipStream([{ name: 'empty/' }])))).toBe('ZIP_INVALID');
    expect(under(path.join(work, 'sources', 'trees'))).toStrictEqual([]);
    expect(under(path.join(work, 'sources', 'tmp'))).toStrictEqual([]);
    expect(existsSync(path.join(work, 'evil'))).toBe(false);
  });

  it('bounds the upload (SOURCE_TOO_LARGE) and what it unpacks to (ZIP_TOO_LARGE)', async () => {
    const small = createSourceStore({ dir: path.join(work, 's2'), maxBytes: 4096 });
    const big = Buffer.from(Array.from({ length: 8000 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join(''));
    expect(await codeOf(small.putZip(zipStream([{ name: 'big.txt', data: big, method: 'store' }])))).toBe('SOURCE_TOO_LARGE');
    expect(await codeOf(small.putZip(zipStream([{ name: 'big.txt', data: Buffer.alloc(5000, 0x61) }]), { maxBytes: 100_000 }))).toMatch(/^ZIP_(TOO_LARGE|FILE_TOO_LARGE)$/);
    expect(under(path.join(work, 's2', 'tmp'))).toStrictEqual([]);
  });

  it('putTree follows links that stay inside, refuses links that leave, and bounds the size', async () => {
    const folder = path.join(work, 'f');
    mkdirSync(folder);
    writeFileSync(path.join(folder, 'real.txt'), 'R');
    symlinkSync('real.txt', path.join(folder, 'alias.txt'));
    const s = await store.putTree(folder);
    expect(readFileSync(path.join(s.root, 'alias.txt'), 'utf8')).toBe('R');
    symlinkSync('/etc/passwd', path.join(folder, 'out'));
    expect(await codeOf(store.putTree(folder))).toBe('SOURCE_INVALID');
    rmSync(path.join(folder, 'out'));
    writeFileSync(path.join(folder, 'big'), Buffer.alloc(2 * 1024 * 1024));
    expect(await codeOf(store.putTree(folder))).toBe('SOURCE_TOO_LARGE');
    expect(await codeOf(store.putTree(path.join(work, 'nope')))).toBe('SOURCE_NOT_FOUND');
  });

  it('stores two concurrent uploads of the same content once', async () => {
    const entries = [{ name: 'x.py', data: Buffer.from('print(1)') }];
    const [a, b] = await Promise.all([store.putZip(zipStream(entries)), store.putZip(zipStream(entries))]);
    expect(a.digest).toBe(b.digest);
    expect(readFileSync(path.join(a.root, 'x.py'), 'utf8')).toBe('print(1)');
  });
});
