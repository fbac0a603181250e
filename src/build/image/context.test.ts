import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../core/errors.js';
import { buildContext, dockerignoreMatcher, listContext, localFileDependencies, localRequirementFiles } from './context.js';

interface Got {
  name: string;
  type: string;
  mode: number;
  uid: number;
  mtime: number;
  body: string;
  linkname?: string | null;
}

async function untar(stream: Readable): Promise<Got[]> {
  const ex = extract();
  const got: Got[] = [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const h = entry.header;
      got.push({ name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? -1, mtime: h.mtime?.getTime() ?? 0, body: Buffer.concat(chunks).toString(), linkname: h.linkname });
    }
  })();
  await Promise.all([pipeline(stream, ex), done]);
  return got;
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'berth-ctx-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function put(rel: string, body = rel): void {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), body);
}

describe('build context', () => {
  it('puts the tree under its prefix with the generated files, fixed owners and times, the exec bit kept', async () => {
    put('package.json', '{"name":"x"}');
    put('bin/run.sh', '#!/bin/sh\n');
    chmodSync(join(root, 'bin/run.sh'), 0o700);
    put('.git/HEAD');
    const ctx = buildContext({ root, prefix: 'app', extra: [{ name: 'Dockerfile', content: 'FROM x\n' }, { name: 'berth/berth.mjs', content: 'bridge' }], maxBytes: 1 << 20 });
    const got = await untar(ctx.stream);
    expect(got.map((g) => `${g.type}:${g.name}`)).toStrictEqual(['directory:app', 'directory:app/bin', 'file:app/bin/run.sh', 'file:app/package.json', 'file:Dockerfile', 'directory:berth', 'file:berth/berth.mjs']);
    const run = got.find((g) => g.name === 'app/bin/run.sh')!;
    expect(run.mode).toBe(0o755);
    expect(got.find((g) => g.name === 'app/package.json')).toMatchObject({ mode: 0o644, uid: 0, body: '{"name":"x"}', mtime: Date.parse('2000-01-01T00:00:00Z') });
    expect(ctx.files).toBe(4);
    expect(ctx.bytes).toBe('{"name":"x"}'.length + '#!/bin/sh\n'.length + 'FROM x\n'.length + 'bridge'.length);
  });

  it('honours .dockerignore (anchored at the root, ** for any depth, ! to keep) and the default ignores', async () => {
    put('.dockerignore', '# build output\n*.log\n**/secret.txt\n/dist\n!keep.log\n');
    put('a.log');
    put('keep.log');
    put('sub/a.log');
    put('sub/deep/secret.txt');
    put('dist/out.js');
    put('node_modules/x/index.js');
    put('src/index.js');
    const got = await untar(buildContext({ root, ignore: ['node_modules'], maxBytes: 1 << 20 }).stream);
    const names = got.filter((g) => g.type === 'file').map((g) => g.name);
    expect(names).toStrictEqual(['.dockerignore', 'keep.log', 'src/index.js', 'sub/a.log']);
  });

  it('refuses a context over its byte bound before sending anything, with SOURCE_TOO_LARGE', () => {
    put('big.bin', 'x'.repeat(5000));
    let err: unknown;
    try {
      listContext({ root, maxBytes: 4096 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('SOURCE_TOO_LARGE');
  });

  it('keeps a link that stays inside the tree and refuses one that leaves it', async () => {
    put('lib/real.js');
    symlinkSync('lib/real.js', join(root, 'alias.js'));
    const got = await untar(buildContext({ root, maxBytes: 1 << 20 }).stream);
    expect(got.find((g) => g.name === 'alias.js')).toMatchObject({ type: 'symlink', linkname: 'lib/real.js' });
    symlinkSync('/etc/passwd', join(root, 'evil'));
    expect(() => listContext({ root, maxBytes: 1 << 20 })).toThrow(/outside/);
  });

  it('a file that cannot be read ends the stream with its error', async () => {
    put('gone.txt', 'abc');
    const entries = listContext({ root, maxBytes: 1 << 20 });
    rmSync(join(root, 'gone.txt'));
    const { packEntries } = await import('./context.js');
    await expect(untar(packEntries(entries))).rejects.toThrow(/ENOENT/);
  });

  it('the same tree makes the same bytes', async () => {
    put('a.js', 'a');
    put('b/c.js', 'c');
    const bytes = async (): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const c of buildContext({ root, maxBytes: 1 << 20 }).stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    expect((await bytes()).equals(await bytes())).toBe(true);
  });

  it('dockerignore patterns: folders, negations, leading ./ and /', () => {
    const m = dockerignoreMatcher(['./build', '/tmp/', '*.pyc', '!important.pyc']);
    expect(m('build', true)).toBe(true);
    expect(m('tmp', true)).toBe(true);
    expect(m('a.pyc', false)).toBe(true);
    expect(m('important.pyc', false)).toBe(false);
    expect(m('src/a.pyc', false)).toBe(false); // anchored at the root, as Docker reads it
  });

  it('finds local file: dependencies inside the tree', () => {
    put('package.json', JSON.stringify({ dependencies: { words: 'file:vendor/words', zod: '^4', gone: 'file:vendor/gone.tgz' }, devDependencies: { typescript: 'file:./vendor/ts.tgz', up: 'file:../outside' } }));
    put('vendor/words/package.json');
    put('vendor/ts.tgz');
    expect(localFileDependencies(root)).toStrictEqual(['vendor/ts.tgz', 'vendor/words']);
  });

  it('finds the local files a requirements.txt installs from', () => {
    put('requirements.txt', ['# vendored', './vendor/a-1.0-py3-none-any.whl', 'vendor/b-2.0.tar.gz ; python_version >= "3.8"', 'requests==2.32.0', '-r more.txt', '--find-links=wheels', '-e .', './missing.whl', '../outside.whl'].join('\n'));
    put('more.txt', 'file:pkgs/c\n-c constraints.txt\n');
    put('constraints.txt', 'zzz<2\n');
    put('vendor/a-1.0-py3-none-any.whl');
    put('vendor/b-2.0.tar.gz');
    put('pkgs/c/setup.py');
    put('wheels/x.whl');
    expect(localRequirementFiles(root)).toStrictEqual(['constraints.txt', 'more.txt', 'pkgs/c', 'vendor/a-1.0-py3-none-any.whl', 'vendor/b-2.0.tar.gz', 'wheels']);
  });
});
