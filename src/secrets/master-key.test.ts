import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/index.js';
import { generateMasterKey, keyIdOf } from './cipher.js';
import { MasterKeys, parseMasterKey } from './master-key.js';
import { EncryptedSecretStore } from './encrypted-store.js';
import { MemorySecretRows, memorySecretStore } from './memory-rows.js';

function thrown(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected a throw');
}

describe('master keys', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-keys-'));
    file = join(dir, 'data', 'master.key');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses 32 bytes as hex or base64 (standard or URL-safe), and names the variable, never the text, when it is wrong', () => {
    const bytes = randomBytes(32);
    const id = keyIdOf(bytes);
    expect(parseMasterKey(bytes.toString('hex'), 'X').id).toBe(id);
    expect(parseMasterKey(` ${bytes.toString('base64')}\n`, 'X').id).toBe(id);
    expect(parseMasterKey(bytes.toString('base64url'), 'X').id).toBe(id);
    for (const bad of ['s3cr3t-too-short', randomBytes(31).toString('hex'), randomBytes(16).toString('base64'), `${bytes.toString('hex')}00`]) {
      const err = thrown(() => parseMasterKey(bad, 'BERTH_MASTER_KEY'));
      expect(err.code).toBe('CONFIG_INVALID');
      expect(err.message).toContain('BERTH_MASTER_KEY');
      expect(err.message).not.toContain(bad);
    }
  });

  it('creates the key file at first start with mode 0600 (its folder 0700), and reads the same key afterwards', () => {
    const first = MasterKeys.load({ keyFile: file });
    expect(first.source).toBe('file');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700);
    const again = MasterKeys.load({ keyFile: file });
    expect(again.cipher.currentKeyId).toBe(first.cipher.currentKeyId);
    expect(parseMasterKey(readFileSync(file, 'utf8'), 'file').id).toBe(first.cipher.currentKeyId);
  });

  it('takes group and other permissions away from an existing key file', () => {
    MasterKeys.load({ keyFile: file });
    chmodSync(file, 0o644);
    MasterKeys.load({ keyFile: file });
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('prefers BERTH_MASTER_KEY (creating no file) and opens values of BERTH_PREVIOUS_MASTER_KEY', async () => {
    const old = generateMasterKey();
    const current = generateMasterKey();
    const keys = MasterKeys.load({ masterKey: current.bytes.toString('base64'), previousMasterKey: old.bytes.toString('hex'), keyFile: file });
    expect(keys.source).toBe('env');
    expect(existsSync(file)).toBe(false);
    expect(keys.cipher.currentKeyId).toBe(current.id);
    expect(keys.cipher.knows(old.id)).toBe(true);
    const err = await keys.rotate(async () => 0).then(
      () => undefined,
      (e: unknown) => e as BerthError,
    );
    expect(err?.code).toBe('MASTER_KEY_EXTERNAL');
  });

  it('rotates a key file: values re-encrypted, the new key in the file, no .next left', async () => {
    const keys = MasterKeys.load({ keyFile: file });
    const store = memorySecretStore(keys.cipher);
    await store.set('global', 'A', 'value-a');
    const before = keys.cipher.currentKeyId;
    const result = await keys.rotate((k) => store.reencrypt(k));
    expect(result.reencrypted).toBe(1);
    expect(result.key_id).not.toBe(before);
    expect(keys.cipher.currentKeyId).toBe(result.key_id);
    expect(MasterKeys.load({ keyFile: file }).cipher.currentKeyId).toBe(result.key_id);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(existsSync(`${file}.next`)).toBe(false);
    expect(await store.get('global', 'A')).toBe('value-a');
  });

  it('a failed re-encryption leaves the old key file in place and no .next', async () => {
    const keys = MasterKeys.load({ keyFile: file });
    const before = readFileSync(file, 'utf8');
    await expect(keys.rotate(async () => Promise.reject(new Error('database down')))).rejects.toThrow('database down');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(existsSync(`${file}.next`)).toBe(false);
  });

  it('after a crash between re-encryption and the rename, the next start still opens every value', async () => {
    const keys = MasterKeys.load({ keyFile: file });
    const rows = new MemorySecretRows();
    const store = new EncryptedSecretStore(rows, keys.cipher);
    await store.set('global', 'A', 'value-a');
    // The crash: re-encryption committed, then the process died before renaming FILE.next over FILE.
    const next = generateMasterKey();
    writeFileSync(`${file}.next`, `${next.bytes.toString('base64')}\n`, { mode: 0o600 });
    await store.reencrypt(next);
    const restarted = MasterKeys.load({ keyFile: file });
    expect(restarted.cipher.knows(next.id)).toBe(true);
    const reopened = new EncryptedSecretStore(rows, restarted.cipher);
    expect(await reopened.get('global', 'A')).toBe('value-a');
    // What start-up does: bring stragglers to the current key, then drop the leftover.
    expect(await reopened.reencrypt()).toBe(1);
    restarted.settle();
    expect(existsSync(`${file}.next`)).toBe(false);
    const third = new EncryptedSecretStore(rows, MasterKeys.load({ keyFile: file }).cipher);
    expect(await third.get('global', 'A')).toBe('value-a');
  });
});
