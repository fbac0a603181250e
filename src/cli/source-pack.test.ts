import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { listFolder, packFolder, PackError } from './source-pack.js';
import { localSourceOf, reportLines, sourceCreateBody } from './source-deploy.js';

let work = '';
let dir = '';
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'berth-pack-test-'));
  dir = path.join(work, 'my-server');
  mkdirSync(dir);
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function files(map: Record<string, string>): void {
  for (const [rel, text] of Object.entries(map)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
}

describe('packFolder', () => {
  it('honours .gitignore and .berthignore, skips node_modules, .git and venvs, and keeps the executable bit', async () => {
    files({
      'package.json': '{}',
      'src/index.js': 'x',
      'bin/run': '#!/bin/sh',
      '.gitignore': 'dist/\n*.log\n',
      '.berthignore': 'secret.env\n',
      'dist/out.js': 'built',
      'debug.log': 'log',
      'secret.env': 'TOKEN=1',
      'node_modules/a/index.js': 'dep',
      'sub/node_modules/b.js': 'dep',
      '.git/HEAD': 'ref',
      '.venv/bin/python': '',
    });
    chmodSync(path.join(dir, 'bin/run'), 0o755);
    expect((await listFolder(dir)).map((f) => f.rel)).toStrictEqual(['.berthignore', '.gitignore', 'bin/run', 'package.json', 'src/index.js']);
    const zip = path.join(work, 'out.zip');
    const packed = await packFolder(dir, zip);
    expect(packed.files).toBe(5);
    const entries = await new Promise<{ name: string; mode: number }[]>((resolve, reject) =>
      yauzl.open(zip, { lazyEntries: false }, (err, z) => {
        if (err || !z) return reject(err ?? new Error('no zip'));
        const got: { name: string; mode: number }[] = [];
        z.on('entry', (e: yauzl.Entry) => got.push({ name: e.fileName, mode: e.externalFileAttributes >>> 16 }));
        z.on('end', () => resolve(got));
        z.on('error', reject);
      }),
    );
    expect(entries.map((e) => e.name).sort()).toStrictEqual(['.berthignore', '.gitignore', 'bin/run', 'package.json', 'src/index.js']);
    expect(entries.find((e) => e.name === 'bin/run')!.mode & 0o111).not.toBe(0);
    expect(entries.find((e) => e.name === 'package.json')!.mode & 0o111).toBe(0);
  });

  it('follows links inside the folder and refuses links that leave it', async () => {
    files({ 'a.txt': 'A' });
    symlinkSync('a.txt', path.join(dir, 'b.txt'));
    expect((await listFolder(dir)).map((f) => f.rel)).toStrictEqual(['a.txt', 'b.txt']);
    symlinkSync('/etc/hostname', path.join(dir, 'out'));
    await expect(listFolder(dir)).rejects.toThrow(PackError);
    await expect(listFolder(dir)).rejects.toThrow(/leaves the folder/);
  });

  it('bounds the size and refuses an empty folder', async () => {
    files({ 'big.bin': 'x'.repeat(5000) });
    await expect(listFolder(dir, { maxBytes: 4000 })).rejects.toThrow(/more than 4000 bytes/);
    rmSync(path.join(dir, 'big.bin'));
    await expect(packFolder(dir, path.join(work, 'e.zip'))).rejects.toThrow(/Nothing to upload/);
  });
});

describe('CLI source arguments', () => {
  it('takes a folder or a .zip file as a source, and anything else as a command', () => {
    files({ 'x.zip': 'PK' });
    expect(localSourceOf([dir, '--flag'])).toStrictEqual({ kind: 'folder', path: dir, args: ['--flag'] });
    expect(localSourceOf([path.join(dir, 'x.zip')])?.kind).toBe('zip');
    expect(localSourceOf(['node', 'server.js'])).toBeNull();
    expect(localSourceOf([])).toBeNull();
    const body = sourceCreateBody({ start: true, env: { A: '1' } } as never, { kind: 'folder', path: dir, args: [] });
    expect(body).toMatchObject({ name: 'my-server', spec: { type: 'source', args: [], env: { A: '1' } } });
  });

  it('prints the detection report with where each finding comes from, and problems with fixes', () => {
    const lines = reportLines(
      {
        digest: `sha256:${'ab'.repeat(32)}`,
        files: 2,
        bytes: 100,
        report: { plan: null, findings: [{ what: 'install', value: 'npm ci', from: 'package-lock.json' }], warnings: [], problems: [{ code: 'NO_START_COMMAND', message: 'No way to start', fix: 'add "bin"' }] },
      },
      './s',
    );
    expect(lines.join('\n')).toContain('install  npm ci   (from package-lock.json)');
    expect(lines.join('\n')).toContain('NO_START_COMMAND: No way to start\n    fix: add "bin"');
    expect(lines.join('\n')).not.toContain('Ready to deploy');
  });
});
