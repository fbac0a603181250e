import { describe, expect, it } from 'vitest';
import { BerthError, newToken } from '../core/index.js';
import { MemoryTokenStore } from '../store/memory-tokens.js';
import type { TokenStore } from '../store/types.js';
import { parseDuration, TokenService } from './tokens.js';

const ADMIN = { id: 'env', name: 'BERTH_API_TOKEN', scopes: ['admin' as const] };

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  return e instanceof BerthError ? e.code : String(e);
}

function rig(opts: { envToken?: string } = {}) {
  let now = Date.parse('2026-12-07T00:00:00.000Z');
  const store = new MemoryTokenStore();
  const lookups: string[] = [];
  const counting: TokenStore = {
    createToken: (t) => store.createToken(t),
    getToken: (id) => store.getToken(id),
    listTokens: () => store.listTokens(),
    revokeToken: (id, at) => store.revokeToken(id, at),
    touchToken: (id, at) => store.touchToken(id, at),
    findTokenByHash: (h) => {
      lookups.push(h);
      return store.findTokenByHash(h);
    },
  };
  const svc = new TokenService({ tokens: counting, now: () => now, ...opts });
  return { svc, store, lookups, advance: (ms: number) => (now += ms) };
}

describe('TokenService', () => {
  it('creates a token shown once, stores only its hash, and verifies it to its scopes', async () => {
    const { svc, store } = rig();
    const created = await svc.create({ name: 'ci', scopes: ['deploy', 'invoke:echo-k3x9f2ab01cd', 'deploy'] }, ADMIN);
    expect(created.token).toMatch(/^brt_[A-Za-z0-9]{43}$/);
    expect(created).toMatchObject({ name: 'ci', scopes: ['deploy', 'invoke:echo-k3x9f2ab01cd'], created_by: 'env', status: 'active', prefix: created.token.slice(0, 8) });
    const stored = await store.getToken(created.id);
    expect(JSON.stringify(stored)).not.toContain(created.token);
    expect(JSON.stringify(await svc.list())).not.toContain(created.token);
    expect(JSON.stringify(await svc.list())).not.toContain(stored!.hash);
    expect(await svc.verify(created.token)).toStrictEqual({ id: created.id, name: 'ci', scopes: ['deploy', 'invoke:echo-k3x9f2ab01cd'] });
  });

  it('refuses unknown, malformed, expired and revoked tokens with their own codes', async () => {
    const { svc, advance } = rig();
    expect(await codeOf(svc.verify(newToken()))).toBe('UNAUTHORIZED');
    expect(await codeOf(svc.verify('not-a-token'))).toBe('UNAUTHORIZED');
    const short = await svc.create({ scopes: ['read'], expires_in: '1h' }, ADMIN);
    expect((await svc.verify(short.token)).scopes).toStrictEqual(['read']);
    advance(3_600_001);
    expect(await codeOf(svc.verify(short.token))).toBe('TOKEN_EXPIRED');
    expect((await svc.list()).find((t) => t.id === short.id)?.status).toBe('expired');
    const gone = await svc.create({ scopes: ['read'] }, ADMIN);
    await svc.verify(gone.token);
    await svc.revoke(gone.id);
    // Revocation clears this replica's cache at once.
    expect(await codeOf(svc.verify(gone.token))).toBe('TOKEN_REVOKED');
    expect(await codeOf(svc.revoke('tok_nope'))).toBe('TOKEN_NOT_FOUND');
  });

  it('caches lookups briefly, misses included, and never looks up what is not shaped like a token', async () => {
    const { svc, lookups, advance } = rig();
    const t = await svc.create({ scopes: ['read'] }, ADMIN);
    const stranger = newToken();
    for (let i = 0; i < 5; i++) {
      await svc.verify(t.token);
      await svc.verify(stranger).catch(() => undefined);
      await svc.verify('garbage').catch(() => undefined);
    }
    expect(lookups).toHaveLength(2);
    advance(5_001);
    await svc.verify(t.token);
    expect(lookups).toHaveLength(3);
  });

  it('validates scopes and expiry', async () => {
    const { svc } = rig();
    expect(await codeOf(svc.create({ scopes: [] }, ADMIN))).toBe('VALIDATION_FAILED');
    expect(await codeOf(svc.create({ scopes: ['root'] }, ADMIN))).toBe('VALIDATION_FAILED');
    expect(await codeOf(svc.create({ scopes: ['read'], expires_in: '0d' }, ADMIN))).toBe('VALIDATION_FAILED');
    expect(await codeOf(svc.create({ scopes: ['read'], expires_at: '2020-01-01T00:00:00Z' }, ADMIN))).toBe('VALIDATION_FAILED');
    expect(await codeOf(svc.create({ scopes: ['read'], expires_in: '1d', expires_at: '2030-01-01T00:00:00Z' }, ADMIN))).toBe('VALIDATION_FAILED');
    expect(await codeOf(svc.create({ scopes: ['read'], surprise: 1 }, ADMIN))).toBe('VALIDATION_FAILED');
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(() => parseDuration('30 days')).toThrow(/duration/);
  });

  it('bootstraps an admin token only when no usable admin token exists and no env token is set', async () => {
    const { svc, advance } = rig();
    const first = await svc.bootstrap();
    expect(first?.scopes).toStrictEqual(['admin']);
    expect(first?.created_by).toBe('bootstrap');
    expect(await svc.bootstrap()).toBeNull();
    await svc.create({ scopes: ['admin'], expires_in: '1h' }, ADMIN);
    await svc.revoke(first!.id);
    expect(await svc.bootstrap()).toBeNull(); // the expiring admin token still works
    advance(3_600_001);
    const again = await svc.bootstrap();
    expect(again?.token).toMatch(/^brt_/);
    expect(again?.token).not.toBe(first?.token);

    const env = rig({ envToken: `brt_${'e'.repeat(40)}` });
    expect(await env.svc.bootstrap()).toBeNull();
    expect(await env.svc.verify(`brt_${'e'.repeat(40)}`)).toMatchObject({ id: 'env', scopes: ['admin'] });
  });
});
