import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryEmbeddingStore } from './embeddings.js';
import { withPostgres } from './testing/postgres.js';
import { postgresStores, sqliteStores } from './testing/fixtures.js';
import type { EmbeddingStore } from './types.js';

function runEmbeddingStoreContract(name: string, make: () => Promise<{ store: EmbeddingStore; cleanup(): Promise<void> }>): void {
  describe(`EmbeddingStore contract: ${name}`, () => {
    let f: { store: EmbeddingStore; cleanup(): Promise<void> };
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.cleanup();
    });

    it('gives back the vectors it has (exactly), none for unknown keys; a key stored twice keeps its first vector; many keys at once', async () => {
      await f.store.putVectors('m', [
        { key: 'a', vector: [0.25, -1, 3e-7] },
        { key: 'b', vector: [1, 2, 3] },
      ]);
      await f.store.putVectors('m', [{ key: 'a', vector: [9, 9, 9] }]);
      const got = await f.store.getVectors(['a', 'b', 'nope']);
      expect([...got.keys()].sort()).toEqual(['a', 'b']);
      expect(got.get('a')).toEqual([0.25, -1, 3e-7]);
      const many = Array.from({ length: 1200 }, (_, i) => ({ key: `k${i}`, vector: [i] }));
      await f.store.putVectors('m', many);
      const all = await f.store.getVectors(many.map((e) => e.key));
      expect(all.size).toBe(1200);
      expect(all.get('k1199')).toEqual([1199]);
    });
  });
}

runEmbeddingStoreContract('memory', async () => ({ store: new MemoryEmbeddingStore(), cleanup: async () => undefined }));
runEmbeddingStoreContract('sqlite', async () => {
  const f = await sqliteStores();
  return { store: f.stores.embeddings, cleanup: f.cleanup };
});
await withPostgres('the EmbeddingStore contract', () => {
  runEmbeddingStoreContract('postgres', async () => {
    const f = await postgresStores();
    return { store: f.stores.embeddings, cleanup: f.cleanup };
  });
});
