/**
 * Embeddings for groups' search_tools (issue 13, optional): tool texts and the query are embedded through an
 * OpenAI-compatible API (BERTH_EMBEDDINGS_URL, POST /embeddings), the tools' vectors kept in Berth's store (one per
 * model and text, so a tool is embedded once, whatever the group or session), and the cosine ranking is fused with
 * BM25's by reciprocal rank. When the API fails, the search is BM25's alone (and says so in the log).
 */
import { createHash } from 'node:crypto';
import { ToolIndex, type SearchableTool, type ToolHit } from '../mcp/group/search.js';
import type { EmbeddingStore } from '../store/types.js';

export interface EmbeddingsOptions {
  /** The API base (`https://api.openai.com/v1`); `/embeddings` is added. */
  url: string;
  model: string;
  key?: string;
  store: EmbeddingStore;
  timeoutMs?: number;
  log?: (line: string) => void;
}

/** Texts per API request. */
const BATCH = 128;
/** The reciprocal-rank constant (Cormack et al.): ranks below ~60 weigh little. */
const RRF_K = 60;

/** What is embedded for a tool: its name's words, description and parameter names. */
export function toolText(t: SearchableTool): string {
  const params = Object.keys(t.inputSchema?.properties ?? {}).join(', ');
  return `${t.name.replace(/[_-]+/g, ' ')}: ${t.description ?? ''}${params ? ` (parameters: ${params})` : ''}`.slice(0, 2000);
}

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

export class ToolEmbeddings {
  constructor(private readonly opts: EmbeddingsOptions) {}

  private keyOf(text: string): string {
    return createHash('sha256').update(`${this.opts.model}\n${text}`).digest('hex');
  }

  /** Vectors for `texts`, from the store where it has them, else from the API (and then stored). */
  async vectors(texts: string[], store = true): Promise<number[][]> {
    const keys = texts.map((t) => this.keyOf(t));
    const known = store ? await this.opts.store.getVectors(keys) : new Map<string, number[]>();
    const missing = [...new Set(texts.filter((_, i) => !known.has(keys[i]!)))];
    for (let i = 0; i < missing.length; i += BATCH) {
      const batch = missing.slice(i, i + BATCH);
      const got = await this.request(batch);
      const entries = batch.map((t, j) => ({ key: this.keyOf(t), vector: got[j]! }));
      for (const e of entries) known.set(e.key, e.vector);
      if (store) await this.opts.store.putVectors(this.opts.model, entries);
    }
    return keys.map((k) => known.get(k)!);
  }

  /**
   * BM25 and cosine similarity, fused by reciprocal rank; BM25 alone when the API cannot be used. `index`: the BM25
   * index of `tools` when the caller keeps one (a group session does), else it is built here.
   */
  async search<T extends SearchableTool>(query: string, tools: readonly T[], k: number, index: ToolIndex<T> = new ToolIndex(tools)): Promise<ToolHit<T>[]> {
    const bm25 = index.search(query, Math.max(50, k));
    let vectors: number[][];
    let q: number[];
    try {
      vectors = await this.vectors(tools.map(toolText));
      q = (await this.vectors([query], false))[0]!;
    } catch (err) {
      this.opts.log?.(`tool search: the embeddings API failed (${err instanceof Error ? err.message : String(err)}); BM25 alone`);
      return bm25.slice(0, k);
    }
    const semantic = tools.map((tool, i) => ({ tool, score: cosine(q, vectors[i]!) })).sort((a, b) => b.score - a.score);
    const fused = new Map<T, number>();
    bm25.forEach((h, rank) => fused.set(h.tool, (fused.get(h.tool) ?? 0) + 1 / (RRF_K + rank + 1)));
    semantic.slice(0, Math.max(50, k)).forEach((h, rank) => fused.set(h.tool, (fused.get(h.tool) ?? 0) + 1 / (RRF_K + rank + 1)));
    return [...fused.entries()].map(([tool, score]) => ({ tool, score })).sort((a, b) => b.score - a.score || a.tool.name.localeCompare(b.tool.name)).slice(0, k);
  }

  private async request(input: string[]): Promise<number[][]> {
    const res = await fetch(`${this.opts.url.replace(/\/+$/, '')}/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.opts.key ? { authorization: `Bearer ${this.opts.key}` } : {}) },
      body: JSON.stringify({ model: this.opts.model, input }),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      redirect: 'error',
    });
    const text = await readCapped(res, EMBEDDING_BYTES * input.length + 65_536);
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    const body = JSON.parse(text) as { data?: { index?: number; embedding?: unknown }[] };
    const data = body.data ?? [];
    const out: number[][] = new Array<number[]>(input.length);
    data.forEach((d, i) => {
      const at = typeof d.index === 'number' ? d.index : i;
      if (at >= 0 && at < input.length && Array.isArray(d.embedding) && d.embedding.every((x) => typeof x === 'number')) out[at] = d.embedding as number[];
    });
    if (out.length !== input.length || out.some((v) => v === undefined)) throw new Error(`the API answered ${data.length} vectors for ${input.length} texts`);
    return out;
  }
}

/** The most bytes one vector may take as JSON text (3072 dimensions at ~20 characters each, with room). */
const EMBEDDING_BYTES = 80_000;

/** The body of `res` as text, failing (and cancelling the rest) once it passes `max` bytes. */
async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new Error(`the API's answer passed ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
