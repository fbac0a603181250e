import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { createSourceStore } from '../sources/index.js';
import { startPrivateGitServer, type PrivateGitServer } from '../sources/git/testing/http-server.js';
import { gitAvailable, TestRepo } from '../sources/git/testing/repo.js';
import { createGitResolver, type TreeStore } from './git-source.js';

/** A small in-test store with the source store's digest (sorted path, executable bit, content hash), keeping the trees it was given. */
function memoryStore(): TreeStore & { trees: Map<string, Record<string, string>> } {
  const trees = new Map<string, Record<string, string>>();
  return {
    trees,
    async putTree(dir) {
      const files: Record<string, string> = {};
      const lines: string[] = [];
      const walk = (d: string, rel: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.name === '.git') continue;
          const p = path.join(d, e.name);
          const r = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) walk(p, r);
          else {
            const content = readFileSync(p);
            files[r] = content.toString('utf8');
            lines.push(`${r}\t${statSync(p).mode & 0o111 ? 'x' : '-'}\t${createHash('sha256').update(content).digest('hex')}`);
          }
        }
      };
      walk(dir, '');
      const digest = `sha256:${createHash('sha256').update(lines.sort().join('\n')).digest('hex')}`;
      trees.set(digest, files);
      return { digest };
    },
  };
}

if (gitAvailable('createGitResolver', it)) {
  describe('createGitResolver (real repositories, an in-test store)', () => {
    let repo: TestRepo;
    let workDir: string;
    let server: PrivateGitServer;
    const c: Record<string, string> = {};
    const token = 'tok_resolver_0123456789';
    const secrets: Record<string, string> = { 'secret_ref:global:GIT_TOKEN': token };
    const asked: [string, string | undefined][] = [];
    const resolveToken = async (ref: string, id?: string) => {
      asked.push([ref, id]);
      const v = secrets[ref];
      if (v === undefined) throw new BerthError('SECRET_NOT_FOUND', `${ref} does not exist`);
      return v;
    };

    beforeAll(async () => {
      repo = new TestRepo();
      workDir = mkdtempSync(path.join(tmpdir(), 'berth-resolver-'));
      c.v1 = repo.commit({ 'srv/server.py': 'print(1)\n', 'README.md': 'one\n' });
      repo.tag('v1');
      c.v2 = repo.commit({ 'README.md': 'two\n' });
      repo.tag('v2');
      c.v3 = repo.commit({ 'srv/server.py': 'print(3)\n' });
      repo.push();
      server = await startPrivateGitServer({ root: path.dirname(repo.bare), user: 'x-access-token', token });
    });
    afterAll(async () => {
      await server.close();
      repo.remove();
      rmSync(workDir, { recursive: true, force: true });
    });

    it('stores the subdirectory and returns the commit and digest; same files, same digest; the checkout is removed', async () => {
      const store = memoryStore();
      const resolve = createGitResolver({ store, resolveToken, workDir, timeoutMs: 60_000, allow: { file: true } });
      const lines: string[] = [];
      const one = await resolve({ kind: 'git', url: repo.fileUrl, ref: 'v1', subdir: 'srv' }, { log: (l) => lines.push(l) });
      const two = await resolve({ kind: 'git', url: repo.fileUrl, ref: 'v2', subdir: 'srv' }, {});
      const three = await resolve({ kind: 'git', url: repo.fileUrl, subdir: 'srv' }, {});
      expect([one.commit, two.commit, three.commit]).toEqual([c.v1, c.v2, c.v3]);
      expect(two.digest).toBe(one.digest);
      expect(three.digest).not.toBe(one.digest);
      expect(store.trees.get(one.digest)).toEqual({ 'server.py': 'print(1)\n' });
      expect(lines.join('\n')).toContain(`stored srv of ${c.v1!.slice(0, 12)} as ${one.digest}`);
      expect(readdirSync(workDir)).toEqual([]);
    });

    it('with the real source store: the folder is stored under its digest, and the same folder at another commit is the same tree', async () => {
      const storeDir = mkdtempSync(path.join(tmpdir(), 'berth-resolver-store-'));
      try {
        const store = createSourceStore({ dir: storeDir, maxBytes: 10 * 1024 * 1024 });
        const resolve = createGitResolver({ store, resolveToken, workDir, timeoutMs: 60_000, allow: { file: true } });
        const got = await resolve({ kind: 'git', url: repo.fileUrl, ref: 'v1', subdir: 'srv' }, {});
        expect(got.commit).toBe(c.v1);
        const stored = await store.get(got.digest);
        expect(stored?.files).toBe(1);
        expect(readFileSync(path.join(stored!.root, 'server.py'), 'utf8')).toBe('print(1)\n');
        // v2 changed only the README: the same folder, the same stored tree.
        expect((await resolve({ kind: 'git', url: repo.fileUrl, ref: 'v2', subdir: 'srv' }, {})).digest).toBe(got.digest);
      } finally {
        rmSync(storeDir, { recursive: true, force: true });
      }
    });

    it('fetches the pinned commit, not the ref, once a source is pinned', async () => {
      const resolve = createGitResolver({ store: memoryStore(), resolveToken, workDir, timeoutMs: 60_000, allow: { file: true } });
      expect((await resolve({ kind: 'git', url: repo.fileUrl, ref: 'main', commit: c.v1 }, {})).commit).toBe(c.v1);
    });

    it('resolves the token from its secret reference for the deployment; a missing one and a refused fetch are named', async () => {
      const resolve = createGitResolver({ store: memoryStore(), resolveToken, workDir, timeoutMs: 60_000, allow: { http: true } });
      const url = server.url(path.basename(repo.bare));
      const got = await resolve({ kind: 'git', url, ref: 'v2', token: 'secret_ref:global:GIT_TOKEN' }, { deploymentId: 'weather-000000000001' });
      expect(got.commit).toBe(c.v2);
      expect(asked).toContainEqual(['secret_ref:global:GIT_TOKEN', 'weather-000000000001']);
      await expect(resolve({ kind: 'git', url, token: 'secret_ref:global:NOPE' }, {})).rejects.toMatchObject({ code: 'SECRET_NOT_FOUND' });
      await expect(resolve({ kind: 'git', url }, {})).rejects.toMatchObject({ code: 'GIT_AUTH_FAILED' });
      const strict = createGitResolver({ store: memoryStore(), resolveToken, workDir, timeoutMs: 60_000 });
      await expect(strict({ kind: 'git', url: repo.fileUrl }, {})).rejects.toMatchObject({ code: 'GIT_URL_NOT_ALLOWED' });
    });
  });
}
