import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { BerthError } from '../core/errors.js';
import type { Sealed } from '../core/secret-rows.js';

export type { Sealed };

/** A 256-bit master key and its id (a fingerprint, safe to store and show). */
export interface MasterKey {
  readonly id: string;
  readonly bytes: Buffer;
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The first 16 hex digits of SHA-256 over a fixed label and the key: names a key without revealing it. */
export function keyIdOf(bytes: Buffer): string {
  return createHash('sha256').update('berth-master-key-id\0').update(bytes).digest('hex').slice(0, 16);
}

export function masterKeyFrom(bytes: Buffer): MasterKey {
  if (bytes.length !== KEY_BYTES) throw new BerthError('CONFIG_INVALID', `A master key must be ${KEY_BYTES} bytes, got ${bytes.length}`);
  return { id: keyIdOf(bytes), bytes: Buffer.from(bytes) };
}

export function generateMasterKey(): MasterKey {
  return masterKeyFrom(randomBytes(KEY_BYTES));
}

/**
 * The additional authenticated data of a value: its scope and name. A ciphertext copied to another
 * name or scope fails its tag check instead of decrypting as that other secret.
 */
function aad(scope: string, name: string): Buffer {
  return Buffer.from(`berth-secret:v1\0${scope}\0${name}`, 'utf8');
}

/**
 * AES-256-GCM over a keyring: values are sealed with the current key (a fresh random IV each time)
 * and opened with whichever key their `key_id` names.
 */
export class SecretCipher {
  #current: MasterKey;
  readonly #keys = new Map<string, MasterKey>();

  /** `current` seals; `older` keys only open values sealed before a rotation. */
  constructor(current: MasterKey, older: readonly MasterKey[] = []) {
    for (const k of older) this.#keys.set(k.id, k);
    this.#current = current;
    this.#keys.set(current.id, current);
  }

  get currentKeyId(): string {
    return this.#current.id;
  }

  knows(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /** Makes `key` the one new values are sealed with; the previous keys can still open what they sealed. */
  use(key: MasterKey): void {
    this.#keys.set(key.id, key);
    this.#current = key;
  }

  seal(scope: string, name: string, value: string, key: MasterKey = this.#current): Sealed {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key.bytes, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(scope, name));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return { key_id: key.id, nonce: iv.toString('base64'), ciphertext: body.toString('base64') };
  }

  /** Throws SECRET_DECRYPT_FAILED (naming the secret, never a value) when the key is unknown or the data was altered. */
  open(scope: string, name: string, sealed: Sealed): string {
    const key = this.#keys.get(sealed.key_id);
    const what = `${scope}:${name}`;
    if (!key) {
      throw new BerthError('SECRET_DECRYPT_FAILED', `Secret ${what} was encrypted with master key ${sealed.key_id}, which this Berth does not have (set BERTH_PREVIOUS_MASTER_KEY to it, or restore its key file)`, { secret: what, key_id: sealed.key_id });
    }
    try {
      const iv = Buffer.from(sealed.nonce, 'base64');
      const body = Buffer.from(sealed.ciphertext, 'base64');
      if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new Error('malformed');
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad(scope, name));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new BerthError('SECRET_DECRYPT_FAILED', `Secret ${what} could not be decrypted: its stored data was altered or moved`, { secret: what, key_id: sealed.key_id });
    }
  }
}
