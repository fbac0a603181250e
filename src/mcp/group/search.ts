/**
 * Tool search for groups ("smart routing"): BM25 over each tool's name, description and parameter names (and their
 * descriptions). Names count three times (a query word that names the tool matters most); camelCase, snake_case and
 * kebab-case are split into words, so `read_file`, `readFile` and "read a file" meet.
 */

export interface SearchableTool {
  name: string;
  description?: string;
  inputSchema?: { properties?: Record<string, { description?: string } | undefined> };
}

export interface ToolHit<T> {
  tool: T;
  score: number;
}

/** Words too common in tool descriptions to tell tools apart. */
const STOP = new Set(['a', 'an', 'the', 'of', 'to', 'in', 'on', 'for', 'and', 'or', 'with', 'by', 'from', 'is', 'are', 'be', 'it', 'this', 'that', 'as', 'at', 'into', 'its', 'use', 'using', 'used', 'can', 'will', 'if', 'all', 'any', 'me', 'my', 'i']);

/** Lower-case words of `text`: camelCase, snake_case, kebab-case and dotted names split; a crude plural `s` dropped. */
export function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0 && !STOP.has(w))
    .map((w) => (w.length > 3 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w));
}

function document(t: SearchableTool): string[] {
  const params = Object.entries(t.inputSchema?.properties ?? {}).flatMap(([name, p]) => [...words(name), ...words(p?.description ?? '')]);
  const name = words(t.name);
  return [...name, ...name, ...name, ...words(t.description ?? ''), ...params];
}

/** A BM25 index over a list of tools; `search` ranks them for a query (k1 1.2, b 0.75). */
export class ToolIndex<T extends SearchableTool> {
  private readonly docs: { tool: T; tf: Map<string, number>; length: number }[];
  private readonly df = new Map<string, number>();
  private readonly avgLength: number;

  constructor(tools: readonly T[]) {
    this.docs = tools.map((tool) => {
      const terms = document(tool);
      const tf = new Map<string, number>();
      for (const w of terms) tf.set(w, (tf.get(w) ?? 0) + 1);
      for (const w of tf.keys()) this.df.set(w, (this.df.get(w) ?? 0) + 1);
      return { tool, tf, length: terms.length };
    });
    this.avgLength = this.docs.reduce((s, d) => s + d.length, 0) / Math.max(1, this.docs.length);
  }

  get size(): number {
    return this.docs.length;
  }

  /** The `k` best tools for `query` (those sharing no word with it are never returned). */
  search(query: string, k = 5): ToolHit<T>[] {
    const q = [...new Set(words(query))];
    const n = this.docs.length;
    const hits: ToolHit<T>[] = [];
    for (const d of this.docs) {
      let score = 0;
      for (const w of q) {
        const f = d.tf.get(w);
        if (!f) continue;
        const df = this.df.get(w) ?? 0;
        const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
        score += (idf * f * 2.2) / (f + 1.2 * (0.25 + (0.75 * d.length) / this.avgLength));
      }
      if (score > 0) hits.push({ tool: d.tool, score });
    }
    return hits.sort((a, b) => b.score - a.score || a.tool.name.localeCompare(b.tool.name)).slice(0, Math.max(1, k));
  }
}
