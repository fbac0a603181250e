import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolIndex, words } from '../mcp/group/search.js';
import { openStores, type SqlStores } from '../store/sql-store.js';
import { ToolEmbeddings } from './tool-embeddings.js';

/**
 * A local stand-in for an OpenAI-compatible embeddings API: no embedding service is reachable from these machines.
 * Its vectors count words by concept, with a few synonyms folded together (folder = directory, …), which is what
 * an embedding model adds over BM25: the test checks Berth's side (requests, storage, fusion, fallback), not a model.
 */
const CONCEPTS: Record<string, string> = { folder: 'directory', directory: 'directory', make: 'create', new: 'create', create: 'create', add: 'sum', plus: 'sum', sum: 'sum', total: 'sum', number: 'number' };
const DIMS = ['directory', 'create', 'sum', 'number', 'file', 'read', 'write', 'list', 'other'];
function standInVector(text: string): number[] {
  const v = new Array<number>(DIMS.length).fill(0);
  for (const w of words(text)) {
    const i = DIMS.indexOf(CONCEPTS[w] ?? w);
    v[i === -1 ? DIMS.length - 1 : i]! += 1;
  }
  return v;
}

const TOOLS = [
  { name: 'fs__read_file', description: 'Read the complete contents of a file from the file system.', inputSchema: { properties: { path: {} } } },
  { name: 'fs__write_file', description: 'Create a new file or completely overwrite an existing file with new content.', inputSchema: { properties: { path: {}, content: {} } } },
  { name: 'fs__create_directory', description: 'Create a new directory or ensure a directory exists.', inputSchema: { properties: { path: {} } } },
  { name: 'fs__list_directory', description: 'Get a detailed listing of all files and directories in a specified path.', inputSchema: { properties: { path: {} } } },
  { name: 'everything__get-sum', description: 'Returns the sum of two numbers', inputSchema: { properties: { a: {}, b: {} } } },
];

describe('search_tools with embeddings, against a local stand-in for an OpenAI-compatible embeddings API (no embedding service is reachable here)', () => {
  let server: Server;
  let url = '';
  const requests: { auth: string | undefined; model: string; input: string[] }[] = [];
  let down = false;
  /** Answer with an endless body (the API gone wrong): Berth must stop reading at its bound. */
  let flood = false;
  let dir = '';
  let stores: SqlStores;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (down || req.url !== '/v1/embeddings') {
          res.writeHead(503).end('{"error":"down"}');
          return;
        }
        if (flood) {
          res.writeHead(200, { 'content-type': 'application/json' });
          const chunk = Buffer.alloc(1 << 20, 0x20);
          const more = (): void => {
            while (!res.destroyed && res.write(chunk));
            if (!res.destroyed) res.once('drain', more);
          };
          res.write('{"data":[');
          more();
          return;
        }
        const { model, input } = JSON.parse(body) as { model: string; input: string[] };
        requests.push({ auth: req.headers.authorization, model, input });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', model, data: input.map((t, index) => ({ object: 'embedding', index, embedding: standInVector(t) })) }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    dir = mkdtempSync(join(tmpdir(), 'berth-embeddings-'));
    stores = await openStores({ kind: 'sqlite', path: join(dir, 'berth.db') });
  });
  afterAll(async () => {
    await stores?.close();
    rmSync(dir, { recursive: true, force: true });
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('finds by meaning what BM25 misses, fusing both rankings; sends the key and the model', async () => {
    expect(new ToolIndex(TOOLS).search('make a new folder', 1)[0]?.tool.name).not.toBe('fs__create_directory');
    const logs: string[] = [];
    const e = new ToolEmbeddings({ url, model: 'stand-in-1', key: 'sk-test-key', store: stores.embeddings, log: (l) => logs.push(l) });
    const hits = await e.search('make a new folder', TOOLS, 3);
    expect(hits[0]!.tool.name).toBe('fs__create_directory');
    // BM25's own best answers stay in the fused list.
    expect((await e.search('add two numbers', TOOLS, 3))[0]!.tool.name).toBe('everything__get-sum');
    expect(requests[0]).toMatchObject({ auth: 'Bearer sk-test-key', model: 'stand-in-1' });
    expect(logs).toEqual([]);
  });

  it("keeps the tools' vectors in Berth's store: another search (another Berth, the same store) embeds only its query", async () => {
    const before = requests.length;
    const again = new ToolEmbeddings({ url, model: 'stand-in-1', store: stores.embeddings });
    await again.search('list what is in a directory', TOOLS, 2);
    const made = requests.slice(before);
    expect(made).toHaveLength(1);
    expect(made[0]!.input).toEqual(['list what is in a directory']);
    const stored = await stores.db.selectFrom('embeddings').select(['model']).execute();
    expect(stored.length).toBe(TOOLS.length);
    expect(stored.every((r) => r.model === 'stand-in-1')).toBe(true);
  });

  it('falls back to BM25 alone, and says so, when the API fails', async () => {
    down = true;
    try {
      const logs: string[] = [];
      const e = new ToolEmbeddings({ url, model: 'stand-in-2', store: stores.embeddings, log: (l) => logs.push(l) });
      const hits = await e.search('read a file', TOOLS, 2);
      expect(hits.map((h) => h.tool.name)).toEqual(new ToolIndex(TOOLS).search('read a file', 2).map((h) => h.tool.name));
      expect(logs.join('\n')).toMatch(/embeddings API failed \(HTTP 503/);
    } finally {
      down = false;
    }
  });

  it('stops reading an answer that passes its bound, and falls back to BM25', async () => {
    flood = true;
    try {
      const logs: string[] = [];
      const e = new ToolEmbeddings({ url, model: 'stand-in-3', store: stores.embeddings, log: (l) => logs.push(l) });
      const hits = await e.search('read a file', TOOLS, 2);
      expect(hits.map((h) => h.tool.name)).toEqual(new ToolIndex(TOOLS).search('read a file', 2).map((h) => h.tool.name));
      expect(logs.join('\n')).toMatch(/answer passed \d+ bytes/);
    } finally {
      flood = false;
    }
  });
});
