import { generateMasterKey, SecretCipher } from './cipher.js';
import { EncryptedSecretStore } from './encrypted-store.js';
import type { SecretRow, SecretRows } from './types.js';

/** SecretRows in a Map, behaving like the SQL ones (rewriteAll is all-or-nothing). For tests. */
export class MemorySecretRows implements SecretRows {
  readonly #rows = new Map<string, SecretRow>();

  async upsert(row: SecretRow): Promise<void> {
    this.#rows.set(place(row.scope, row.name), { ...row });
  }

  async get(scope: string, name: string): Promise<SecretRow | undefined> {
    const row = this.#rows.get(place(scope, name));
    return row === undefined ? undefined : { ...row };
  }

  async list(scope: string): Promise<SecretRow[]> {
    return [...this.#rows.values()]
      .filter((r) => r.scope === scope)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((r) => ({ ...r }));
  }

  async delete(scope: string, name: string): Promise<boolean> {
    return this.#rows.delete(place(scope, name));
  }

  async deleteScope(scope: string): Promise<number> {
    let n = 0;
    for (const [k, r] of this.#rows) if (r.scope === scope && this.#rows.delete(k)) n++;
    return n;
  }

  async keyUsage(): Promise<Record<string, number>> {
    const usage: Record<string, number> = {};
    for (const r of this.#rows.values()) usage[r.key_id] = (usage[r.key_id] ?? 0) + 1;
    return usage;
  }

  async rewriteAll(change: (row: SecretRow) => SecretRow | undefined): Promise<number> {
    const next = new Map<string, SecretRow>();
    for (const [k, r] of this.#rows) {
      const replaced = change({ ...r });
      if (replaced !== undefined) next.set(k, { ...replaced, scope: r.scope, name: r.name });
    }
    for (const [k, r] of next) this.#rows.set(k, r);
    return next.size;
  }
}

function place(scope: string, name: string): string {
  return `${scope}\0${name}`;
}

/** An in-memory SecretStore with a random master key: the fake other modules' tests use. */
export function memorySecretStore(cipher: SecretCipher = new SecretCipher(generateMasterKey())): EncryptedSecretStore {
  return new EncryptedSecretStore(new MemorySecretRows(), cipher);
}
