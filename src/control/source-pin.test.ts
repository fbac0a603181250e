import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/errors.js';
import { SourceSpecSchema, type SourceSpec } from '../core/index.js';
import { createSourceStore, type SourceStore } from '../sources/index.js';
import { writeZip, type TestEntry } from '../sources/zip/testing/zip-writer.js';
import { pinSourceSpec } from './source-pin.js';

let work = '';
let store: SourceStore;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'berth-pin-'));
  store = createSourceStore({ dir: path.join(work, 'sources'), maxBytes: 1024 * 1024 });
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const put = (entries: TestEntry[]): Promise<{ digest: string }> => store.putZip(Readable.from([writeZip(entries)]));
const spec = (source: unknown, extra: Record<string, unknown> = {}): SourceSpec => SourceSpecSchema.parse({ type: 'source', source, ...extra });
const NODE = [
  { name: 'package.json', data: Buffer.from(JSON.stringify({ name: 's', main: 'index.js', dependencies: { '@modelcontextprotocol/sdk': '^1.0.0' } })) },
  { name: 'index.js', data: Buffer.from('console.log(1)') },
];

async function refusal(p: Promise<unknown>): Promise<BerthError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(BerthError);
  return err as BerthError;
}

describe('pinSourceSpec', () => {
  it('accepts a stored upload that detection can build, with its report', async () => {
    const { digest } = await put(NODE);
    const out = await pinSourceSpec(spec({ kind: 'upload', digest }), { store });
    expect(out.digest).toBe(digest);
    expect(out.spec.source).toStrictEqual({ kind: 'upload', digest });
    expect(out.report.plan?.language).toBe('node');
    expect(out.report.plan?.start).toStrictEqual(['node', 'index.js']);
  });

  it("renews the tree's store time, so garbage collection leaves a tree a deploy is pinning", async () => {
    const { digest } = await put(NODE);
    const meta = path.join(work, 'sources', 'trees', `${digest.slice(7)}.json`);
    const old = new Date(Date.now() - 3 * 86_400_000);
    utimesSync(meta, old, old);
    const before = (await store.list()).find((t) => t.digest === digest)!.storedAt;
    expect(Date.now() - before).toBeGreaterThan(2 * 86_400_000);
    await pinSourceSpec(spec({ kind: 'upload', digest }), { store });
    const after = (await store.list()).find((t) => t.digest === digest)!.storedAt;
    expect(Date.now() - after).toBeLessThan(60_000);
  });

  it('refuses a digest the store does not have (SOURCE_NOT_FOUND)', async () => {
    const e = await refusal(pinSourceSpec(spec({ kind: 'upload', digest: `sha256:${'a'.repeat(64)}` }), { store }));
    expect(e.code).toBe('SOURCE_NOT_FOUND');
  });

  it('refuses a tree with no entry point (SOURCE_INVALID with the problems and the report), unless spec.start names one', async () => {
    const { digest } = await put([{ name: 'README.md', data: Buffer.from('# nothing') }]);
    const e = await refusal(pinSourceSpec(spec({ kind: 'upload', digest }), { store }));
    expect(e.code).toBe('SOURCE_INVALID');
    expect(e.status).toBe(422);
    const details = e.details as { problems: { code: string }[]; report: { problems: unknown[] } };
    expect(details.problems.map((p) => p.code)).toStrictEqual(['NO_ENTRY_POINT']);
    expect(details.report.problems).toHaveLength(1);
    const ok = await pinSourceSpec(spec({ kind: 'upload', digest }, { start: ['sh', '-c', 'true'] }), { store });
    expect(ok.digest).toBe(digest);
  });

  it('pins a git source through the resolver, and refuses it without one (RUNTIME_UNAVAILABLE)', async () => {
    const { digest } = await put(NODE);
    const git = spec({ kind: 'git', url: 'https://example.com/org/repo.git', ref: 'main' });
    expect((await refusal(pinSourceSpec(git, { store }))).code).toBe('RUNTIME_UNAVAILABLE');
    const commit = 'c'.repeat(40);
    const seen: unknown[] = [];
    const out = await pinSourceSpec(git, {
      store,
      resolveGit: async (src, ctx) => {
        seen.push([src.url, ctx.deploymentId]);
        return { commit, digest };
      },
    }, { deploymentId: 'd-1' });
    expect(seen).toStrictEqual([['https://example.com/org/repo.git', 'd-1']]);
    expect(out.spec.source).toStrictEqual({ kind: 'git', url: 'https://example.com/org/repo.git', ref: 'main', commit, digest });
  });
});
