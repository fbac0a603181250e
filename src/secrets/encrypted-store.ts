import { BerthError } from '../core/errors.js';
import { DEPLOYMENT_ID_PATTERN, SECRET_NAME } from '../core/index.js';
import type { MasterKey, SecretCipher } from './cipher.js';
import { GLOBAL_SCOPE, type SecretInfo, type SecretRow, type SecretRows, type SecretStore } from './types.js';

/** Throws VALIDATION_FAILED unless `scope` is `global` or a deployment id and `name` a secret name. */
export function checkSecretPlace(scope: string, name?: string): void {
  if (scope !== GLOBAL_SCOPE && !DEPLOYMENT_ID_PATTERN.test(scope)) {
    throw new BerthError('VALIDATION_FAILED', `A secret scope is "global" or a deployment id, got ${JSON.stringify(scope.slice(0, 80))}`);
  }
  if (name !== undefined && !SECRET_NAME.test(name)) {
    throw new BerthError('VALIDATION_FAILED', `A secret name is a letter or _ followed by letters, digits or _ (at most 128), got ${JSON.stringify(name.slice(0, 140))}`);
  }
}

/**
 * The SecretStore: AES-256-GCM (SecretCipher) over any SecretRows. Writes in this process are
 * serialised, so a value set during a rotation is never sealed with the key being retired.
 */
export class EncryptedSecretStore implements SecretStore {
  readonly #rows: SecretRows;
  readonly #cipher: SecretCipher;
  readonly #now: () => Date;
  #writes: Promise<unknown> = Promise.resolve();

  constructor(rows: SecretRows, cipher: SecretCipher, options: { now?: () => Date } = {}) {
    this.#rows = rows;
    this.#cipher = cipher;
    this.#now = options.now ?? (() => new Date());
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#writes.then(fn, fn);
    this.#writes = result.catch(() => undefined);
    return result;
  }

  set(scope: string, name: string, value: string): Promise<SecretInfo> {
    checkSecretPlace(scope, name);
    if (typeof value !== 'string') throw new BerthError('VALIDATION_FAILED', 'A secret value must be a string');
    return this.#serial(async () => {
      const row: SecretRow = { scope, name, updated_at: this.#now().toISOString(), ...this.#cipher.seal(scope, name, value) };
      await this.#rows.upsert(row);
      return { name, updated_at: row.updated_at };
    });
  }

  async get(scope: string, name: string): Promise<string | undefined> {
    checkSecretPlace(scope, name);
    const row = await this.#rows.get(scope, name);
    return row === undefined ? undefined : this.#cipher.open(scope, name, row);
  }

  async values(scope: string): Promise<Map<string, string>> {
    checkSecretPlace(scope);
    const rows = await this.#rows.list(scope);
    return new Map(rows.map((r) => [r.name, this.#cipher.open(r.scope, r.name, r)]));
  }

  async list(scope: string): Promise<SecretInfo[]> {
    checkSecretPlace(scope);
    return (await this.#rows.list(scope)).map((r) => ({ name: r.name, updated_at: r.updated_at }));
  }

  delete(scope: string, name: string): Promise<boolean> {
    checkSecretPlace(scope, name);
    return this.#serial(() => this.#rows.delete(scope, name));
  }

  deleteScope(scope: string): Promise<number> {
    checkSecretPlace(scope);
    return this.#serial(() => this.#rows.deleteScope(scope));
  }

  keyUsage(): Promise<Record<string, number>> {
    return this.#rows.keyUsage();
  }

  reencrypt(key?: MasterKey): Promise<number> {
    return this.#serial(async () => {
      const current = this.#cipher.currentKeyId;
      const changed = await this.#rows.rewriteAll((row) => {
        if (key === undefined && row.key_id === current) return undefined;
        const value = this.#cipher.open(row.scope, row.name, row);
        return { ...row, ...this.#cipher.seal(row.scope, row.name, value, key) };
      });
      if (key !== undefined) this.#cipher.use(key);
      return changed;
    });
  }
}
