import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { BerthError } from '../core/errors.js';
import { SecretCipher, generateMasterKey, masterKeyFrom, type MasterKey } from './cipher.js';

/** Where the master key comes from (BERTH_MASTER_KEY, BERTH_PREVIOUS_MASTER_KEY, BERTH_MASTER_KEY_FILE). */
export interface MasterKeySettings {
  masterKey?: string;
  previousMasterKey?: string;
  /** Used when masterKey is not set; created (mode 0600) when missing. */
  keyFile: string;
}

/** 64 hex digits, or base64 (standard or URL-safe) of 32 bytes. Errors name `what`, never the text. */
export function parseMasterKey(text: string, what: string): MasterKey {
  const t = text.trim();
  let bytes: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(t)) bytes = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(t)) bytes = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (bytes?.length !== 32) {
    throw new BerthError('CONFIG_INVALID', `${what} must be 32 bytes written as 64 hex digits or as base64 (make one with: openssl rand -base64 32)`, { field: what });
  }
  return masterKeyFrom(bytes);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `text` to a new temp file beside `path` (mode 0600, synced) and returns its name. */
function writeTemp(path: string, text: string): string {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

function keyFileText(key: MasterKey): string {
  return `${key.bytes.toString('base64')}\n`;
}

/** Reads a key file, first bringing its mode down to 0600 if it was readable by others. */
function readKeyFile(path: string, what: string): MasterKey {
  const st = lstatSync(path);
  if (!st.isFile()) throw new BerthError('CONFIG_INVALID', `${what} ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0) chmodSync(path, 0o600);
  return parseMasterKey(readFileSync(path, 'utf8'), `${what} ${path}`);
}

/**
 * The key file, created at first start. Creation is atomic and race-free: a complete temp file is
 * hard-linked to the name, so two Berth processes starting at once end up with the same key.
 */
function loadOrCreateKeyFile(path: string): MasterKey {
  try {
    return readKeyFile(path, 'BERTH_MASTER_KEY_FILE');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = generateMasterKey();
  const tmp = writeTemp(path, keyFileText(key));
  try {
    linkSync(tmp, path);
    fsyncDir(dirname(path));
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readKeyFile(path, 'BERTH_MASTER_KEY_FILE');
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * The master keys of this Berth: the current one (seals), older ones (open values sealed before a
 * rotation), and, for a key file, rotation with crash safety (see rotate()).
 */
export class MasterKeys {
  readonly cipher: SecretCipher;
  /** `env`: BERTH_MASTER_KEY (rotated by the operator); `file`: the key file (rotated by Berth). */
  readonly source: 'env' | 'file';
  readonly keyFile: string | undefined;
  #rotating: Promise<unknown> = Promise.resolve();

  private constructor(cipher: SecretCipher, source: 'env' | 'file', keyFile?: string) {
    this.cipher = cipher;
    this.source = source;
    this.keyFile = keyFile;
  }

  /** Reads (or creates) the keys. Throws CONFIG_INVALID naming the variable or file that is wrong. */
  static load(settings: MasterKeySettings): MasterKeys {
    const older: MasterKey[] = [];
    if (settings.previousMasterKey !== undefined) older.push(parseMasterKey(settings.previousMasterKey, 'BERTH_PREVIOUS_MASTER_KEY'));
    if (settings.masterKey !== undefined) {
      return new MasterKeys(new SecretCipher(parseMasterKey(settings.masterKey, 'BERTH_MASTER_KEY'), older), 'env');
    }
    const path = settings.keyFile;
    const current = loadOrCreateKeyFile(path);
    // A rotation that stopped before its last step left the new key here: keep it, to open what it sealed.
    try {
      older.push(readKeyFile(`${path}.next`, 'interrupted key rotation file'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return new MasterKeys(new SecretCipher(current, older), 'file', path);
  }

  /** After start-up re-encryption: the leftover of an interrupted rotation is no longer needed. */
  settle(): void {
    if (this.keyFile) rmSync(`${this.keyFile}.next`, { force: true });
  }

  /**
   * Rotates a key-file master key: the new key is written to `FILE.next` first, then `reencrypt`
   * re-encrypts every value under it (one transaction) and makes it current, then `FILE.next` is
   * renamed over `FILE`. A crash at any point leaves every value readable at the next start (the
   * `.next` file is loaded as an older key, and values under it are re-encrypted to the current one).
   */
  rotate(reencrypt: (key: MasterKey) => Promise<number>): Promise<{ key_id: string; reencrypted: number }> {
    const run = async () => {
      const path = this.keyFile;
      if (this.source !== 'file' || path === undefined) throw new BerthError('MASTER_KEY_EXTERNAL');
      const next = generateMasterKey();
      const pending = `${path}.next`;
      const tmp = writeTemp(pending, keyFileText(next));
      renameSync(tmp, pending);
      fsyncDir(dirname(path));
      let reencrypted: number;
      try {
        reencrypted = await reencrypt(next);
      } catch (err) {
        rmSync(pending, { force: true });
        throw err;
      }
      renameSync(pending, path);
      fsyncDir(dirname(path));
      return { key_id: next.id, reencrypted };
    };
    const result = this.#rotating.then(run, run);
    this.#rotating = result.catch(() => undefined);
    return result;
  }
}
