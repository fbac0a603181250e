/** EmbeddingStore in memory and on SQLite or PostgreSQL (one set of queries; a vector is JSON text in either). */
import type { Kysely } from 'kysely';
import type { BerthDatabase } from './schema.js';
import type { EmbeddingStore } from './types.js';

export class MemoryEmbeddingStore implements EmbeddingStore {
  private readonly vectors = new Map<string, number[]>();

  async getVectors(keys: string[]): Promise<Map<string, number[]>> {
    return new Map(keys.filter((k) => this.vectors.has(k)).map((k) => [k, [...this.vectors.get(k)!]]));
  }

  async putVectors(_model: string, entries: { key: string; vector: number[] }[]): Promise<void> {
    for (const e of entries) if (!this.vectors.has(e.key)) this.vectors.set(e.key, [...e.vector]);
  }
}

/** Keys per query: well under SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 500;

export class SqlEmbeddingStore implements EmbeddingStore {
  constructor(private readonly db: Kysely<BerthDatabase>) {}

  async getVectors(keys: string[]): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (let i = 0; i < keys.length; i += CHUNK) {
      const rows = await this.db.selectFrom('embeddings').select(['key', 'vector']).where('key', 'in', keys.slice(i, i + CHUNK)).execute();
      for (const r of rows) out.set(r.key, JSON.parse(r.vector) as number[]);
    }
    return out;
  }

  async putVectors(model: string, entries: { key: string; vector: number[] }[]): Promise<void> {
    const at = new Date().toISOString();
    for (let i = 0; i < entries.length; i += CHUNK) {
      const rows = entries.slice(i, i + CHUNK).map((e) => ({ key: e.key, model, vector: JSON.stringify(e.vector), created_at: at }));
      await this.db.insertInto('embeddings').values(rows).onConflict((oc) => oc.column('key').doNothing()).execute();
    }
  }
}
