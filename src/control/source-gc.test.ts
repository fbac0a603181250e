import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeploymentSpecSchema } from '../core/index.js';
import { createSourceStore, type SourceStore } from '../sources/index.js';
import { sampleDeployment } from '../store/store.contract.js';
import { sqliteStores, type StoresFixture } from '../store/testing/fixtures.js';
import { SourceGc, sourceDigestsInUse } from './source-gc.js';

const DAY = 86_400_000;
let work = '';
let sources: SourceStore;
let fixture: StoresFixture;

beforeEach(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'berth-source-gc-'));
  sources = createSourceStore({ dir: path.join(work, 'sources'), maxBytes: 1024 * 1024 });
  fixture = await sqliteStores('berth-source-gc-store-');
});
afterEach(async () => {
  await fixture.cleanup();
  rmSync(work, { recursive: true, force: true });
});

/** A stored tree of one file whose content is `text`. */
async function tree(text: string): Promise<string> {
  const dir = path.join(work, `src-${text}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'server.js'), text);
  return (await sources.putTree(dir)).digest;
}

const sourceSpec = (digest: string) => DeploymentSpecSchema.parse({ type: 'source', source: { kind: 'upload', digest } });

describe('source store garbage collection', () => {
  it("names every revision's source of deployments that are not deleted, rollback targets included", async () => {
    const [a, b, c] = [`sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`, `sha256:${'c'.repeat(64)}`];
    const store = fixture.stores.deployments;
    await store.create(sampleDeployment('keep-1', { spec: sourceSpec(a) }));
    await store.addRevision('keep-1', { spec: sourceSpec(b), env_schema: [], reason: 'update', from_revision: null, created_by: null });
    await store.create(sampleDeployment('gone-1', { spec: sourceSpec(c) }));
    await store.update('gone-1', { status: 'deleted' });
    expect([...(await sourceDigestsInUse(store))].sort()).toEqual([a, b]);
  });

  it('removes trees nothing names once they were last uploaded longer ago than the grace, and keeps the rest', async () => {
    const [used, old, fresh] = [await tree('used'), await tree('old'), await tree('fresh')];
    const logs: string[] = [];
    let now = Date.now();
    const gc = new SourceGc({ sources, referenced: async () => new Set([used]), keepUnusedMs: DAY, log: (l) => logs.push(l), now: () => now });
    // Within the grace everything stays (an upload waiting for its deploy).
    expect(await gc.collect()).toMatchObject({ removed: [], kept: 3 });
    // Two days on (the trees' store times moved back), and `fresh` stored again: its grace starts over.
    for (const d of [used, old, fresh]) {
      const then = new Date(Date.now() - 2 * DAY);
      utimesSync(path.join(work, 'sources', 'trees', `${d.slice(7)}.json`), then, then);
    }
    await tree('fresh');
    now = Date.now();
    const pass = await gc.collect();
    expect(pass.removed).toEqual([old]);
    expect(pass.bytes).toBe(3);
    expect(await sources.get(old)).toBeNull();
    expect(await sources.get(used)).not.toBeNull();
    expect(await sources.get(fresh)).not.toBeNull();
    expect((await sources.list()).map((t) => t.digest).sort()).toEqual([used, fresh].sort());
    expect(logs.join('\n')).toMatch(/removed 1 unused trees \(3 bytes\); 2 kept/);
    // The same content uploaded again after removal is stored afresh.
    expect(await tree('old')).toBe(old);
    expect(await sources.get(old)).not.toBeNull();
  });
});
