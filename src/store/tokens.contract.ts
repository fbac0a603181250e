import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError, hashToken, newToken } from '../core/index.js';
import type { AuditEntry, NewToken, Stores } from './types.js';

export interface StoresFixture {
  stores: Pick<Stores, 'tokens' | 'audit'>;
  cleanup(): Promise<void>;
}

export function sampleToken(id: string, overrides: Partial<NewToken> = {}): NewToken {
  const token = newToken();
  return {
    id,
    name: `token ${id} — ünïcode`,
    hash: hashToken(token),
    prefix: token.slice(0, 8),
    scopes: ['read', 'invoke:echo-k3x9f2ab01cd'],
    created_at: '2026-12-07T00:00:00.000Z',
    created_by: 'bootstrap',
    expires_at: null,
    ...overrides,
  };
}

function entry(n: number, overrides: Partial<Omit<AuditEntry, 'seq'>> = {}): Omit<AuditEntry, 'seq'> {
  return {
    at: `2026-12-07T00:00:${String(n).padStart(2, '0')}.000Z`,
    actor: 'tok_a',
    actor_name: 'ci',
    action: 'deployment.create',
    target: `dep-${n}`,
    source: '127.0.0.1',
    result: 'ok',
    code: null,
    detail: { n, note: 'ünïcode' },
    ...overrides,
  };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return err instanceof BerthError ? err.code : String(err);
}

/** The behaviour every TokenStore and AuditStore must have. */
export function runTokenAndAuditContract(name: string, make: () => Promise<StoresFixture>): void {
  describe(`TokenStore and AuditStore contract: ${name}`, () => {
    let fixture: StoresFixture;
    beforeEach(async () => {
      fixture = await make();
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('creates tokens, finds them by hash and id, lists them oldest first', async () => {
      const { tokens } = fixture.stores;
      const b = await tokens.createToken(sampleToken('tok_b', { created_at: '2026-12-07T00:00:02.000Z' }));
      const a = await tokens.createToken(sampleToken('tok_a', { expires_at: '2027-01-01T00:00:00.000Z', scopes: ['admin'] }));
      expect(b).toMatchObject({ revoked_at: null, last_used_at: null });
      expect(await tokens.findTokenByHash(a.hash)).toStrictEqual(a);
      expect(await tokens.getToken('tok_b')).toStrictEqual(b);
      expect(await tokens.findTokenByHash(hashToken('brt_nope'))).toBeUndefined();
      expect(await tokens.getToken('tok_zz')).toBeUndefined();
      expect((await tokens.listTokens()).map((t) => t.id)).toStrictEqual(['tok_a', 'tok_b']);
    });

    it('refuses a second token with the same id or hash', async () => {
      const { tokens } = fixture.stores;
      const t = await tokens.createToken(sampleToken('tok_a'));
      expect(await codeOf(tokens.createToken(sampleToken('tok_a')))).toBe('VALIDATION_FAILED');
      expect(await codeOf(tokens.createToken(sampleToken('tok_c', { hash: t.hash })))).toBe('VALIDATION_FAILED');
      expect(await tokens.listTokens()).toHaveLength(1);
    });

    it('revokes once (the first time stays), and an unknown id is TOKEN_NOT_FOUND', async () => {
      const { tokens } = fixture.stores;
      await tokens.createToken(sampleToken('tok_a'));
      expect((await tokens.revokeToken('tok_a', '2026-12-07T01:00:00.000Z')).revoked_at).toBe('2026-12-07T01:00:00.000Z');
      expect((await tokens.revokeToken('tok_a', '2026-12-07T02:00:00.000Z')).revoked_at).toBe('2026-12-07T01:00:00.000Z');
      expect(await codeOf(tokens.revokeToken('tok_zz', '2026-12-07T02:00:00.000Z'))).toBe('TOKEN_NOT_FOUND');
    });

    it('records use, moving last_used_at forward only', async () => {
      const { tokens } = fixture.stores;
      await tokens.createToken(sampleToken('tok_a'));
      await tokens.touchToken('tok_a', '2026-12-07T01:00:00.000Z');
      await tokens.touchToken('tok_a', '2026-12-07T00:30:00.000Z');
      await tokens.touchToken('tok_zz', '2026-12-07T00:30:00.000Z');
      expect((await tokens.getToken('tok_a'))?.last_used_at).toBe('2026-12-07T01:00:00.000Z');
    });

    it('appends audit entries in order and filters them', async () => {
      const { audit } = fixture.stores;
      for (let i = 1; i <= 5; i++) await audit.appendAudit(entry(i, i === 4 ? { result: 'denied', code: 'FORBIDDEN', action: 'auth.denied', actor: 'anonymous', detail: null } : {}));
      const all = await audit.queryAudit({});
      expect(all.map((e) => e.target)).toStrictEqual(['dep-1', 'dep-2', 'dep-3', 'dep-4', 'dep-5']);
      expect(all[0]).toMatchObject({ actor: 'tok_a', actor_name: 'ci', detail: { n: 1, note: 'ünïcode' } });
      const seqs = all.map((e) => e.seq);
      expect([...seqs].sort((x, y) => x - y)).toStrictEqual(seqs);
      expect(new Set(seqs).size).toBe(5);
      expect((await audit.queryAudit({ result: 'denied' })).map((e) => [e.actor, e.code, e.detail])).toStrictEqual([['anonymous', 'FORBIDDEN', null]]);
      expect((await audit.queryAudit({ since: entry(2).at, until: entry(4).at })).map((e) => e.target)).toStrictEqual(['dep-2', 'dep-3']);
      expect((await audit.queryAudit({ actor: 'tok_a', action: 'deployment.create', target: 'dep-5' })).map((e) => e.target)).toStrictEqual(['dep-5']);
      expect((await audit.queryAudit({ afterSeq: seqs[2], limit: 1 })).map((e) => e.target)).toStrictEqual(['dep-4']);
    });
  });
}
