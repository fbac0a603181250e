import { describe, expect, it } from 'vitest';
import { formatGitSource, isGitSource, parseGitSource, repinGitPatch } from './git-source.js';

describe('parseGitSource', () => {
  it('takes git+URL with an optional #ref, :subdir or both', () => {
    expect(parseGitSource('git+https://github.com/org/repo')).toStrictEqual({ kind: 'git', url: 'https://github.com/org/repo' });
    expect(parseGitSource('git+https://github.com/org/repo.git#v1.2.0')).toStrictEqual({ kind: 'git', url: 'https://github.com/org/repo.git', ref: 'v1.2.0' });
    expect(parseGitSource('git+ssh://git@host/org/repo#feature/x:servers/weather/')).toStrictEqual({ kind: 'git', url: 'ssh://git@host/org/repo', ref: 'feature/x', subdir: 'servers/weather' });
    expect(parseGitSource('git+file:///srv/repo.git#:src/server')).toStrictEqual({ kind: 'git', url: 'file:///srv/repo.git', subdir: 'src/server' });
    expect(isGitSource('git+https://x/y')).toBe(true);
    expect(isGitSource('./folder')).toBe(false);
  });

  it('round-trips through formatGitSource', () => {
    for (const s of ['git+https://h/o/r', 'git+https://h/o/r#main', 'git+file:///r.git#v1:a/b', 'git+https://h/o/r#:sub']) expect(formatGitSource(parseGitSource(s))).toBe(s);
  });

  it('refuses what is not a git source, and a subdir with ..', () => {
    expect(() => parseGitSource('https://github.com/org/repo')).toThrow(/starts with git\+/);
    expect(() => parseGitSource('git+ftp://host/repo')).toThrow(/git\+https/);
    expect(() => parseGitSource('git+https://h/o/r#main:../etc')).toThrow(/subdir/);
    expect(() => parseGitSource('git+https://h/o/r#ma in')).toThrow(/ref/);
  });
});

describe('repinGitPatch', () => {
  it('drops the pinned commit and digest when the patch names url, ref or subdir, and only then', () => {
    expect(repinGitPatch({ source: { ref: 'next' } })).toEqual({ source: { ref: 'next', commit: null, digest: null } });
    expect(repinGitPatch({ source: { ref: 'next', commit: 'c' } })).toEqual({ source: { ref: 'next', commit: 'c' } });
    expect(repinGitPatch({ env: { A: '1' } })).toEqual({ env: { A: '1' } });
    expect(repinGitPatch({ source: null })).toEqual({ source: null });
  });
});
