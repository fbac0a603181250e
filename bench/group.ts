// `npx tsx bench/group.ts` (after `npm run build`): what a group adds to a call. One Berth, one of our stdio servers
// deployed, and a group with it as its only member; one MCP session each way, sequential tools/call, rounds
// interleaved: through the member's own endpoint (/s/ID/mcp, the baseline) and through the group (/g/NAME/mcp: the
// group's bridge, its channel, then the member's session through the gateway again).
// Then search_tools over a group of six members: the first search of a session lists every member, the next ones
// rank over the list the session keeps (until a member says its tools changed).
// Also a phase of `npm run bench` (BENCH_GROUP=off skips it there).
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { TestApi } from '../test/support/api.js';
import { ROOT, startBerth } from '../test/support/berth-process.js';
import { BENCH_ENV, disposeBerth } from './phases.js';

const CALLS = 300;
const ROUNDS = Math.max(1, Number(process.env.BENCH_GROUP_ROUNDS ?? 5));

async function session(url: string, headers: Record<string, string>, tool: string): Promise<{ run(n: number): Promise<number[]>; close(): Promise<void> }> {
  const client = new Client({ name: 'bench-group', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  await client.connect(transport);
  return {
    async run(n) {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await client.callTool({ name: tool, arguments: { text: `call ${i}` } });
        out.push(performance.now() - t0);
      }
      return out;
    },
    close: async () => {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  };
}

const SEARCH_SESSIONS = 20;
const SEARCH_AFTER = 20;

/** A group of the member and five more echo servers, with tool search; search_tools timed per session. */
async function searchTimes(api: TestApi, url: string, headers: Record<string, string>, first: string): Promise<{ first: number[]; later: number[] }> {
  const ids = [first];
  for (let i = 1; i < 6; i++) {
    const m = await api.deploy({ name: `member${i}`, spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'src/mcp/testing/mcp-echo-server.mjs')], env: {}, cwd: ROOT } });
    await api.waitFor(m.id);
    ids.push(m.id);
  }
  const g = await api.call('POST', '/api/groups', { name: 'finder', spec: { members: ids.map((deployment) => ({ deployment })), tool_search: 'only' } });
  if (g.status !== 201) throw new Error(`group: ${g.status} ${JSON.stringify(g.body)}`);
  const out = { first: [] as number[], later: [] as number[] };
  for (let s = 0; s < SEARCH_SESSIONS; s++) {
    const client = new Client({ name: 'bench-search', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${url}/g/finder/mcp`), { requestInit: { headers } });
    await client.connect(transport);
    for (let i = 0; i <= SEARCH_AFTER; i++) {
      const t0 = performance.now();
      await client.callTool({ name: 'search_tools', arguments: { query: i % 2 ? 'environment variable' : 'echo text back', k: 5 } });
      (i === 0 ? out.first : out.later).push(performance.now() - t0);
    }
    await transport.terminateSession().catch(() => {});
    await client.close();
  }
  return out;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!;

export async function benchGroup(): Promise<void> {
  const berth = await startBerth({ env: BENCH_ENV });
  try {
    const api = new TestApi(berth.url, berth.token);
    const d = await api.deploy({ name: 'member', spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'src/mcp/testing/mcp-echo-server.mjs')], env: {}, cwd: ROOT } });
    await api.waitFor(d.id);
    const g = await api.call('POST', '/api/groups', { name: 'bench', spec: { members: [{ deployment: 'member' }] } });
    if (g.status !== 201) throw new Error(`group: ${g.status} ${JSON.stringify(g.body)}`);
    const direct = await session(`${berth.url}/s/${d.id}/mcp`, berth.authHeaders(), 'echo');
    const group = await session(`${berth.url}/g/bench/mcp`, berth.authHeaders(), 'member__echo');
    const a: number[] = [];
    const b: number[] = [];
    await direct.run(30);
    await group.run(30);
    for (let r = 0; r < ROUNDS; r++) {
      a.push(...(await direct.run(CALLS)));
      b.push(...(await group.run(CALLS)));
    }
    await direct.close();
    await group.close();
    const search = await searchTimes(api, berth.url, berth.authHeaders(), d.id);
    console.log(`\n## group overhead: one session each way, sequential tools/call (${ROUNDS} × ${CALLS}, rounds interleaved)`);
    console.log(`${'the member directly (/s/ID/mcp)'.padEnd(36)} median ${median(a).toFixed(2)} ms  p95 ${p95(a).toFixed(2)} ms  (baseline)`);
    console.log(`${'through the group (/g/NAME/mcp)'.padEnd(36)} median ${median(b).toFixed(2)} ms  p95 ${p95(b).toFixed(2)} ms  ${(median(b) / median(a)).toFixed(2)}× the member directly, +${(median(b) - median(a)).toFixed(2)} ms`);
    console.log(`\n## search_tools over a group of 6 members (${SEARCH_SESSIONS} sessions: the first search, then ${SEARCH_AFTER} more each)`);
    console.log(`${'first search of a session'.padEnd(36)} median ${median(search.first).toFixed(2)} ms  p95 ${p95(search.first).toFixed(2)} ms  ${(median(search.first) / median(a)).toFixed(2)}× a call to the member directly`);
    console.log(`${'later searches (list kept)'.padEnd(36)} median ${median(search.later).toFixed(2)} ms  p95 ${p95(search.later).toFixed(2)} ms  ${(median(search.later) / median(a)).toFixed(2)}× a call to the member directly`);
  } finally {
    await disposeBerth(berth);
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  await benchGroup().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
