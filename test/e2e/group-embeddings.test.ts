/**
 * A group's search_tools through a real Berth configured with BERTH_EMBEDDINGS_URL, against a local stand-in for an
 * OpenAI-compatible embeddings API (no embedding service is reachable from these machines): Berth embeds the tools
 * with the configured model and key, keeps the vectors, and the search answers through the group.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { ROOT, startBerth, type BerthProcess } from '../support/berth-process.js';
import { connectV1, textOf } from '../support/clients.js';

describe('group tool search with embeddings (a local stand-in for the embeddings API; none is reachable here)', () => {
  let stand: Server;
  let berth: BerthProcess;
  const seen: { auth?: string; model: string; n: number }[] = [];

  beforeAll(async () => {
    stand = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const { model, input } = JSON.parse(body) as { model: string; input: string[] };
        seen.push({ auth: req.headers.authorization, model, n: input.length });
        // A vector per text: its length and its count of the letter e, enough for cosine to rank something.
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: input.map((t, index) => ({ index, embedding: [t.length, (t.match(/e/g) ?? []).length, 1] })) }));
      });
    });
    await new Promise<void>((r) => stand.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(stand.address() as AddressInfo).port}/v1`;
    berth = await startBerth({ env: { BERTH_EMBEDDINGS_URL: url, BERTH_EMBEDDINGS_MODEL: 'stand-in-model', BERTH_EMBEDDINGS_KEY: 'sk-stand-in' } });
  });
  afterAll(async () => {
    await berth?.dispose();
    await new Promise<void>((r) => stand.close(() => r()));
  });

  it('embeds the tools with the configured model and key once, and answers search_tools through the group', async () => {
    const api = new TestApi(berth.url, berth.token);
    const d = await api.deploy({ name: 'everything', spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'], env: {}, cwd: ROOT } });
    await api.waitFor(d.id);
    expect((await api.call('POST', '/api/groups', { name: 'smart', spec: { members: [{ deployment: 'everything' }], tool_search: 'only' } })).status).toBe(201);
    const c = await connectV1(`${berth.url}/g/smart/mcp`, berth.authHeaders());
    try {
      const first = JSON.parse(textOf(await c.call('search_tools', { query: 'add two numbers', k: 3 }))) as { name: string }[];
      expect(first.map((t) => t.name)).toContain('everything__get-sum');
      await c.call('search_tools', { query: 'echo a message back', k: 3 });
    } finally {
      await c.close();
    }
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.every((s) => s.auth === 'Bearer sk-stand-in' && s.model === 'stand-in-model')).toBe(true);
    // The tools were embedded once (one batch of all of them); each search then embedded only its query.
    expect(seen.filter((s) => s.n > 1)).toHaveLength(1);
    expect(seen.filter((s) => s.n === 1)).toHaveLength(2);
  });
});
