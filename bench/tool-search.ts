// `npx tsx bench/tool-search.ts`: a group's tool search (src/mcp/group/search.ts, BM25) over the tools of the real npm
// servers in bench/data/tool-corpus.json (made by bench/tool-corpus.ts), on the hand-labelled tasks of
// bench/data/tool-queries.json. Reports, for BM25 and for a baseline in the same run (keyword matching: how many of
// the task's words appear in a tool's name and description, the way a simple filter would), the share of tasks with
// a right tool in the top 5 (success@5), the mean recall@5 over each task's right tools, and the latency per search.
// Also the last phase of `npm run bench` (BENCH_TOOL_SEARCH=off skips it there).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ToolIndex, words, type SearchableTool } from '../src/mcp/group/search.js';
import { ROOT } from '../test/support/berth-process.js';

interface Corpus {
  servers: { server: string; package: string; version: string; tools: SearchableTool[] }[];
}
interface Queries {
  queries: { query: string; relevant: string[] }[];
}

type Search = (query: string, k: number) => string[];

/** The baseline: tools ranked by how many of the query's words occur in their name or description. */
function keywordSearch(tools: SearchableTool[]): Search {
  const texts = tools.map((t) => `${t.name} ${t.description ?? ''}`.toLowerCase());
  return (query, k) => {
    const q = words(query);
    return tools
      .map((t, i) => ({ name: t.name, hits: q.filter((w) => texts[i]!.includes(w)).length }))
      .filter((x) => x.hits > 0)
      .sort((a, b) => b.hits - a.hits)
      .slice(0, k)
      .map((x) => x.name);
  };
}

function evaluate(search: Search, queries: Queries['queries']): { success: number; recall: number; medianUs: number; p95Us: number } {
  let success = 0;
  let recall = 0;
  const times: number[] = [];
  for (let round = 0; round < 20; round++) {
    for (const q of queries) {
      const t0 = performance.now();
      const top = search(q.query, 5);
      times.push((performance.now() - t0) * 1000);
      if (round > 0) continue;
      const found = q.relevant.filter((r) => top.includes(r)).length;
      if (found > 0) success++;
      recall += found / Math.min(q.relevant.length, 5);
    }
  }
  times.sort((a, b) => a - b);
  return { success: success / queries.length, recall: recall / queries.length, medianUs: times[Math.floor(times.length / 2)]!, p95Us: times[Math.floor(times.length * 0.95)]! };
}

export function benchToolSearch(): void {
  const corpus = JSON.parse(readFileSync(join(ROOT, 'bench/data/tool-corpus.json'), 'utf8')) as Corpus;
  const { queries } = JSON.parse(readFileSync(join(ROOT, 'bench/data/tool-queries.json'), 'utf8')) as Queries;
  // The names a group shows: SERVER__TOOL.
  const tools = corpus.servers.flatMap((s) => s.tools.map((t) => ({ ...t, name: `${s.server}__${t.name}` })));
  const t0 = performance.now();
  const index = new ToolIndex(tools);
  const buildMs = performance.now() - t0;
  const bm25 = evaluate((q, k) => index.search(q, k).map((h) => h.tool.name), queries);
  const base = evaluate(keywordSearch(tools), queries);
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  console.log(`\n## tool search: ${corpus.servers.length} servers from npm, ${tools.length} tools, ${queries.length} labelled tasks (index built in ${buildMs.toFixed(1)} ms)`);
  console.log(`${'method'.padEnd(28)} ${'success@5'.padStart(10)} ${'recall@5'.padStart(10)} ${'median'.padStart(10)} ${'p95'.padStart(10)}`);
  for (const [name, r] of [['keyword match (baseline)', base], ['BM25 (search_tools)', bm25]] as const) {
    console.log(`${name.padEnd(28)} ${pct(r.success).padStart(10)} ${pct(r.recall).padStart(10)} ${`${r.medianUs.toFixed(0)} µs`.padStart(10)} ${`${r.p95Us.toFixed(0)} µs`.padStart(10)}`);
  }
  console.log(`BM25 against the baseline: success@5 ×${(bm25.success / Math.max(base.success, 1e-9)).toFixed(2)}, recall@5 ×${(bm25.recall / Math.max(base.recall, 1e-9)).toFixed(2)}, latency ×${(bm25.medianUs / base.medianUs).toFixed(2)}`);
  const misses = queries.filter((q) => !index.search(q.query, 5).some((h) => q.relevant.includes(h.tool.name)));
  if (misses.length > 0) console.log(`tasks BM25 misses in its top 5: ${misses.map((m) => JSON.stringify(m.query)).join(', ')}`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) benchToolSearch();
