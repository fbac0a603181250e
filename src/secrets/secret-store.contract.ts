import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateMasterKey, SecretCipher, type MasterKey } from './cipher.js';
import { EncryptedSecretStore } from './encrypted-store.js';
import { codeOf } from '../store/store.contract.js';
import type { SecretRows } from './types.js';

export interface SecretRowsFixture {
  rows: SecretRows;
  cleanup(): Promise<void>;
}

/** Values that need escaping in JSON, SQL and base64's alphabet, plus the largest one allowed. */
const TRICKY = ['p@ss"w\\0rd\'; drop table secrets; --', 'ünïcødé ✓ 🔑', 'line one\nline two\r\n', 'x'.repeat(64 * 1024)];

/** The behaviour of the encrypted SecretStore over every SecretRows implementation (memory, SQLite, PostgreSQL). */
export function runSecretStoreContract(name: string, make: () => Promise<SecretRowsFixture>): void {
  describe(`SecretStore contract: ${name}`, () => {
    let fixture: SecretRowsFixture;
    let key: MasterKey;
    let cipher: SecretCipher;
    let store: EncryptedSecretStore;

    beforeEach(async () => {
      fixture = await make();
      key = generateMasterKey();
      cipher = new SecretCipher(key);
      store = new EncryptedSecretStore(fixture.rows, cipher);
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('gives back exactly what was set, and undefined for what was not', async () => {
      for (const [i, value] of TRICKY.entries()) await store.set('global', `K${i}`, value);
      for (const [i, value] of TRICKY.entries()) expect(await store.get('global', `K${i}`)).toBe(value);
      expect(await store.get('global', 'NOPE')).toBeUndefined();
      expect(await store.get('dep-abc123', 'K0')).toBeUndefined();
    });

    it('keeps no plain text in its rows: a fresh IV per value, the current key id on each', async () => {
      const value = 'sk-live-0123456789abcdef';
      await store.set('dep-abc123', 'API_KEY', value);
      await store.set('dep-abc123', 'SAME', value);
      const a = await fixture.rows.get('dep-abc123', 'API_KEY');
      const b = await fixture.rows.get('dep-abc123', 'SAME');
      if (!a || !b) throw new Error('rows missing');
      const stored = JSON.stringify([a, b]);
      expect(stored).not.toContain(value);
      expect(stored).not.toContain(Buffer.from(value).toString('base64').slice(0, 16));
      expect(a.key_id).toBe(key.id);
      expect(Buffer.from(a.nonce, 'base64')).toHaveLength(12);
      expect(a.nonce).not.toBe(b.nonce);
      expect(a.ciphertext).not.toBe(b.ciphertext);
    });

    it('lists names (sorted) with updated_at, never values; set replaces and moves updated_at', async () => {
      await store.set('dep-abc123', 'ZETA', 'zeta-value');
      const first = await store.set('dep-abc123', 'ALPHA', 'alpha-value');
      await store.set('global', 'OTHER', 'other-value');
      const listed = await store.list('dep-abc123');
      expect(listed.map((s) => s.name)).toStrictEqual(['ALPHA', 'ZETA']);
      for (const s of listed) expect(Object.keys(s).sort()).toStrictEqual(['name', 'updated_at']);
      await new Promise((r) => setTimeout(r, 5));
      const second = await store.set('dep-abc123', 'ALPHA', 'alpha-value-2');
      expect(second.updated_at > first.updated_at).toBe(true);
      expect(await store.get('dep-abc123', 'ALPHA')).toBe('alpha-value-2');
      expect(await store.list('dep-abc123')).toHaveLength(2);
      expect(Object.fromEntries(await store.values('dep-abc123'))).toStrictEqual({ ALPHA: 'alpha-value-2', ZETA: 'zeta-value' });
      expect(Object.fromEntries(await store.values('global'))).toStrictEqual({ OTHER: 'other-value' });
    });

    it('deletes one value, or a whole scope, and says whether there was something', async () => {
      await store.set('dep-abc123', 'A', 'value-a');
      await store.set('dep-abc123', 'B', 'value-b');
      await store.set('dep-xyz789', 'A', 'value-other');
      expect(await store.delete('dep-abc123', 'A')).toBe(true);
      expect(await store.delete('dep-abc123', 'A')).toBe(false);
      expect(await store.get('dep-abc123', 'A')).toBeUndefined();
      expect(await store.deleteScope('dep-abc123')).toBe(1);
      expect(await store.list('dep-abc123')).toStrictEqual([]);
      expect(await store.get('dep-xyz789', 'A')).toBe('value-other');
    });

    it('a ciphertext moved to another name or scope, or altered, fails to decrypt', async () => {
      await store.set('dep-abc123', 'TOKEN', 'the-token-value');
      const row = await fixture.rows.get('dep-abc123', 'TOKEN');
      if (!row) throw new Error('row missing');
      await fixture.rows.upsert({ ...row, name: 'STOLEN' });
      await fixture.rows.upsert({ ...row, scope: 'global' });
      expect(await codeOf(store.get('dep-abc123', 'STOLEN'))).toBe('SECRET_DECRYPT_FAILED');
      expect(await codeOf(store.get('global', 'TOKEN'))).toBe('SECRET_DECRYPT_FAILED');
      const body = Buffer.from(row.ciphertext, 'base64');
      body[0] = (body[0] ?? 0) ^ 1;
      await fixture.rows.upsert({ ...row, ciphertext: body.toString('base64') });
      expect(await codeOf(store.get('dep-abc123', 'TOKEN'))).toBe('SECRET_DECRYPT_FAILED');
    });

    it('reencrypt(newKey) puts every value under the new key, keeps values and updated_at, and seals new ones with it', async () => {
      const before = await Promise.all(['A', 'B', 'C'].map((n) => store.set(n === 'C' ? 'global' : 'dep-abc123', n, `value-${n}`)));
      const next = generateMasterKey();
      expect(await store.reencrypt(next)).toBe(3);
      expect(await store.keyUsage()).toStrictEqual({ [next.id]: 3 });
      expect(await store.get('dep-abc123', 'A')).toBe('value-A');
      expect(await store.get('global', 'C')).toBe('value-C');
      expect((await store.list('dep-abc123')).map((s) => s.updated_at)).toStrictEqual(before.slice(0, 2).map((s) => s.updated_at));
      await store.set('global', 'D', 'value-D');
      expect((await fixture.rows.get('global', 'D'))?.key_id).toBe(next.id);
      // Only the new key is needed from now on.
      const fresh = new EncryptedSecretStore(fixture.rows, new SecretCipher(next));
      expect(await fresh.get('dep-abc123', 'B')).toBe('value-B');
    });

    it('reencrypt() moves only the values of older keys to the current one', async () => {
      await store.set('global', 'OLD1', 'old-one');
      await store.set('dep-abc123', 'OLD2', 'old-two');
      const next = generateMasterKey();
      const rotated = new EncryptedSecretStore(fixture.rows, new SecretCipher(next, [key]));
      await rotated.set('global', 'NEW', 'new-one');
      expect(await rotated.keyUsage()).toStrictEqual({ [key.id]: 2, [next.id]: 1 });
      expect(await rotated.reencrypt()).toBe(2);
      expect(await rotated.keyUsage()).toStrictEqual({ [next.id]: 3 });
      expect(await rotated.reencrypt()).toBe(0);
      const onlyNext = new EncryptedSecretStore(fixture.rows, new SecretCipher(next));
      expect(Object.fromEntries(await onlyNext.values('global'))).toStrictEqual({ NEW: 'new-one', OLD1: 'old-one' });
    });

    it('a value it cannot open makes the whole re-encryption fail and change nothing', async () => {
      await store.set('global', 'GOOD', 'good-value');
      const stranger = new EncryptedSecretStore(fixture.rows, new SecretCipher(generateMasterKey()));
      await stranger.set('global', 'ALIEN', 'alien-value');
      const usage = await store.keyUsage();
      expect(await codeOf(store.reencrypt(generateMasterKey()))).toBe('SECRET_DECRYPT_FAILED');
      expect(await store.keyUsage()).toStrictEqual(usage);
      expect(await store.get('global', 'GOOD')).toBe('good-value');
      expect(cipher.currentKeyId).toBe(key.id);
    });

    it('values set while a rotation runs end up under the new key', async () => {
      for (let i = 0; i < 10; i++) await store.set('global', `PRE${i}`, `pre-${i}`);
      const next = generateMasterKey();
      const writes = Array.from({ length: 20 }, (_, i) => store.set('dep-abc123', `W${i}`, `during-${i}`));
      await Promise.all([store.reencrypt(next), ...writes, ...Array.from({ length: 5 }, (_, i) => store.set('global', `POST${i}`, `post-${i}`))]);
      expect(await store.keyUsage()).toStrictEqual({ [next.id]: 35 });
      expect(await store.get('dep-abc123', 'W7')).toBe('during-7');
    });

    it('rejects a bad scope or name with VALIDATION_FAILED', async () => {
      expect(await codeOf(Promise.resolve().then(() => store.set('Not A Scope', 'KEY', 'v')))).toBe('VALIDATION_FAILED');
      expect(await codeOf(Promise.resolve().then(() => store.set('global', 'bad-name', 'v')))).toBe('VALIDATION_FAILED');
      expect(await codeOf(Promise.resolve().then(() => store.get('global', '1ABC')))).toBe('VALIDATION_FAILED');
      expect(await codeOf(Promise.resolve().then(() => store.list('../etc')))).toBe('VALIDATION_FAILED');
      expect(await store.list('global')).toStrictEqual([]);
    });
  });
}
