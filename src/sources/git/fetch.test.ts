import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthError } from '../../core/errors.js';
import { fetchGit } from './fetch.js';
import { startPrivateGitServer, type PrivateGitServer } from './testing/http-server.js';
import { gitAvailable, TestRepo } from './testing/repo.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof BerthError ? err.code : `not a BerthError: ${String(err)}`;
  }
  return 'no error';
}

if (gitAvailable('fetchGit', it)) {
  describe('fetchGit (the system git, real local repositories)', () => {
    let repo: TestRepo;
    let workDir: string;
    const commits: Record<string, string> = {};
    const opts = () => ({ workDir, timeoutMs: 60_000, allow: { file: true } });

    beforeAll(() => {
      repo = new TestRepo();
      workDir = mkdtempSync(path.join(tmpdir(), 'berth-gitwork-'));
      commits.first = repo.commit({ 'README.md': 'v1\n', 'servers/weather/server.py': 'print("v1")\n' }, 'first');
      repo.tag('v1');
      commits.second = repo.commit({ 'servers/weather/server.py': 'print("v2")\n', 'notes.txt': 'a file\n' }, 'second');
      repo.branch('feature/next');
      repo.checkout('feature/next');
      commits.feature = repo.commit({ 'servers/weather/server.py': 'print("feature")\n' }, 'feature');
      repo.checkout('main');
      commits.third = repo.commit({ 'servers/weather/server.py': 'print("v3")\n' }, 'third');
      symlinkSync('/etc', path.join(repo.work, 'outside'));
      commits.head = repo.commit({}, 'a symlink out of the tree');
      repo.push();
    });
    afterAll(() => {
      repo.remove();
      rmSync(workDir, { recursive: true, force: true });
    });

    it('fetches the default branch shallow, with only what that commit has', async () => {
      const got = await fetchGit({ url: repo.fileUrl }, opts());
      try {
        expect(got.commit).toBe(commits.head);
        expect(readFileSync(path.join(got.root, 'servers/weather/server.py'), 'utf8')).toBe('print("v3")\n');
        expect(existsSync(path.join(got.root, '.git/shallow'))).toBe(true);
      } finally {
        await got.cleanup();
      }
      expect(existsSync(got.root)).toBe(false);
    });

    it('fetches a tag, a branch with a slash, a plain path, a subdirectory', async () => {
      const lines: string[] = [];
      const tag = await fetchGit({ url: repo.fileUrl, ref: 'v1', subdir: 'servers/weather' }, { ...opts(), log: (l) => lines.push(l) });
      expect(tag.commit).toBe(commits.first);
      expect(readdirSync(tag.root)).toEqual(['server.py']);
      expect(readFileSync(path.join(tag.root, 'server.py'), 'utf8')).toBe('print("v1")\n');
      expect(lines.join('\n')).toContain(`commit ${commits.first}`);
      await tag.cleanup();
      const branch = await fetchGit({ url: repo.bare, ref: 'feature/next', subdir: 'servers/weather/' }, opts());
      expect(branch.commit).toBe(commits.feature);
      expect(readFileSync(path.join(branch.root, 'server.py'), 'utf8')).toBe('print("feature")\n');
      await branch.cleanup();
    });

    it('fetches a commit that is no branch tip, by full and by abbreviated id', async () => {
      const full = await fetchGit({ url: repo.fileUrl, ref: commits.second! }, opts());
      expect(full.commit).toBe(commits.second);
      expect(readFileSync(path.join(full.root, 'notes.txt'), 'utf8')).toBe('a file\n');
      await full.cleanup();
      const short = await fetchGit({ url: repo.fileUrl, ref: commits.second!.slice(0, 10) }, opts());
      expect(short.commit).toBe(commits.second);
      await short.cleanup();
    });

    it('names a missing ref, a missing or bad subdirectory, a missing repository; leaves nothing behind', async () => {
      expect(await codeOf(fetchGit({ url: repo.fileUrl, ref: 'no-such-branch' }, opts()))).toBe('GIT_REF_NOT_FOUND');
      expect(await codeOf(fetchGit({ url: repo.fileUrl, ref: 'deadbeefdeadbeefdeadbeefdeadbeefdeadbeef' }, opts()))).toBe('GIT_REF_NOT_FOUND');
      expect(await codeOf(fetchGit({ url: repo.fileUrl, ref: '--upload-pack=touch /tmp/x' }, opts()))).toBe('GIT_REF_NOT_FOUND');
      expect(await codeOf(fetchGit({ url: repo.fileUrl, ref: 'v1', subdir: 'servers/other' }, opts()))).toBe('GIT_SUBDIR_NOT_FOUND');
      expect(await codeOf(fetchGit({ url: repo.fileUrl, subdir: 'notes.txt' }, opts()))).toBe('GIT_SUBDIR_NOT_FOUND');
      expect(await codeOf(fetchGit({ url: repo.fileUrl, subdir: 'outside' }, opts()))).toBe('GIT_SUBDIR_NOT_FOUND');
      expect(await codeOf(fetchGit({ url: repo.fileUrl, subdir: '.git' }, opts()))).toBe('GIT_SUBDIR_NOT_FOUND');
      expect(await codeOf(fetchGit({ url: `${repo.fileUrl}-missing` }, opts()))).toBe('GIT_FETCH_FAILED');
      let err: BerthError | undefined;
      await fetchGit({ url: repo.fileUrl, ref: 'v1', subdir: 'nope' }, opts()).catch((e: BerthError) => (err = e));
      expect(err?.message).toContain(commits.first!.slice(0, 12));
      expect(readdirSync(workDir)).toEqual([]);
    });

    it('refuses file URLs, plain paths, http, credentials in the URL and other schemes unless allowed', async () => {
      const strict = { workDir, timeoutMs: 10_000 };
      for (const url of [repo.fileUrl, repo.bare, 'http://127.0.0.1:1/x.git', 'https://user:secret@example.com/x.git', 'ext::sh -c touch% /tmp/pwned', '-u/tmp/x', 'ftp://example.com/x']) {
        expect(await codeOf(fetchGit({ url }, strict)), url).toBe('GIT_URL_NOT_ALLOWED');
      }
      let err: BerthError | undefined;
      await fetchGit({ url: 'https://user:hunter22@example.com/x.git' }, strict).catch((e: BerthError) => (err = e));
      expect(err?.message).not.toContain('hunter22');
    });

    it('stops at the deadline', async () => {
      expect(await codeOf(fetchGit({ url: repo.fileUrl }, { ...opts(), timeoutMs: 1 }))).toBe('GIT_FETCH_FAILED');
      expect(readdirSync(workDir)).toEqual([]);
    });

    describe('a private repository over HTTP (git http-backend on 127.0.0.1)', () => {
      let server: PrivateGitServer;
      const token = 'ghp_TestToken0123456789abcdef';
      beforeAll(async () => {
        server = await startPrivateGitServer({ root: path.dirname(repo.bare), user: 'x-access-token', token });
      });
      afterAll(() => server.close());
      const http = () => ({ ...opts(), allow: { http: true } });

      it('sends the token through askpass and fetches; without it or with a wrong one: GIT_AUTH_FAILED, the token in no message', async () => {
        const url = server.url(path.basename(repo.bare));
        const got = await fetchGit({ url, ref: 'v1', token }, http());
        expect(got.commit).toBe(commits.first);
        await got.cleanup();
        expect(server.authorizations).toContain(`Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`);
        expect(await codeOf(fetchGit({ url }, http()))).toBe('GIT_AUTH_FAILED');
        let err: BerthError | undefined;
        await fetchGit({ url, token: 'wrong-token-value' }, http()).catch((e: BerthError) => (err = e));
        expect(err?.code).toBe('GIT_AUTH_FAILED');
        expect(JSON.stringify(err?.toJSON())).not.toContain('wrong-token-value');
        // Every git command, as a wrapper records it: the token is in no argument, and in git's environment only as BERTH_GIT_TOKEN.
        const rec = mkdtempSync(path.join(tmpdir(), 'berth-gitrec-'));
        const wrapper = path.join(rec, 'git');
        writeFileSync(wrapper, `#!/bin/sh\nprintf '%s\\n' "ARGV $*" >> ${rec}/log\nenv | grep -v '^BERTH_GIT_TOKEN=' | grep -F -e '${token}' >> ${rec}/log\nexec git "$@"\n`);
        chmodSync(wrapper, 0o755);
        const wrapped = await fetchGit({ url, ref: 'v1', token }, { ...http(), git: wrapper });
        await wrapped.cleanup();
        const log = readFileSync(path.join(rec, 'log'), 'utf8');
        rmSync(rec, { recursive: true, force: true });
        expect(log).toContain('ARGV fetch');
        expect(log).not.toContain(token);
        const user = await fetchGit({ url, token: `x-access-token:${token}` }, http());
        expect(user.commit).toBe(commits.head);
        await user.cleanup();
      });
    });
  });
}
