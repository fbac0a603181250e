import { describe, expect, it } from 'vitest';
import { ANONYMOUS, allows, hashToken, newToken, parseScope, TOKEN_PATTERN, type Principal, type Scope } from './auth.js';

const who = (...scopes: Scope[]): Principal => ({ id: 'tok_x', name: 'x', scopes });

describe('scopes', () => {
  it('admin may do everything; deploy implies read; invoke is per deployment and separate from managing', () => {
    const table: [Principal, string, string | undefined, boolean][] = [
      [who('admin'), 'admin', undefined, true],
      [who('admin'), 'invoke', 'a', true],
      [who('deploy'), 'deploy', undefined, true],
      [who('deploy'), 'read', undefined, true],
      [who('deploy'), 'admin', undefined, false],
      [who('deploy'), 'invoke', 'a', false],
      [who('read'), 'read', undefined, true],
      [who('read'), 'deploy', undefined, false],
      [who('read'), 'invoke', 'a', false],
      [who('invoke:a'), 'invoke', 'a', true],
      [who('invoke:a'), 'invoke', 'b', false],
      [who('invoke:a'), 'read', undefined, false],
      [who('invoke:*'), 'invoke', 'b', true],
      [who('invoke:*'), 'read', undefined, false],
      [who('invoke:a'), 'token', undefined, true],
      [ANONYMOUS, 'token', undefined, false],
      [ANONYMOUS, 'invoke', 'a', false],
      [ANONYMOUS, 'public', undefined, true],
    ];
    for (const [p, need, id, want] of table) expect(allows(p, need as never, id), `${p.scopes.join(',')} ${need} ${id ?? ''}`).toBe(want);
  });

  it('parses known scopes and refuses anything else', () => {
    expect(['admin', 'deploy', 'read', 'invoke:*', 'invoke:echo-k3x9f2ab01cd'].map(parseScope)).toHaveLength(5);
    for (const bad of ['root', 'invoke:', 'invoke:../x', 'invoke:UPPER', 'admin ', 'read,deploy']) {
      if (bad === 'admin ') continue; // trimmed: accepted as admin
      expect(() => parseScope(bad), bad).toThrow(/Unknown scope/);
    }
    expect(parseScope(' admin ')).toBe('admin');
  });
});

describe('tokens', () => {
  it('are brt_ and 43 base62 characters, all different, and hash to 64 hex characters', () => {
    const seen = new Set<string>();
    const chars = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const t = newToken();
      expect(t).toMatch(TOKEN_PATTERN);
      expect(t).toHaveLength(47);
      seen.add(t);
      for (const c of t.slice(4)) chars.add(c);
    }
    expect(seen.size).toBe(2000);
    expect(chars.size).toBe(62);
    expect(hashToken('brt_x')).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken('brt_x')).not.toBe(hashToken('brt_y'));
  });
});
