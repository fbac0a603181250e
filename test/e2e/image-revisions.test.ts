/**
 * RevisionImages against the real engine and a real registry (Debian's docker-registry on loopback): one build per
 * revision shared by concurrent callers, reused by later calls and by a restarted Berth (found by tag and labels,
 * never rebuilt), pushed with its digest recorded on the revision, and pulled by that digest on a host whose engine
 * lost the image; without a registry the local tag is recorded.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { detectSource } from '../../src/build/detect/index.js';
import type { ImageBuildOptions } from '../../src/build/image/index.js';
import { createImageBuilds, imageTag, type ImageContext } from '../../src/control/image-builds.js';
import { MemoryDeploymentStore } from '../../src/store/memory-store.js';
import { sampleDeployment } from '../../src/store/store.contract.js';
import { ROOT } from '../support/berth-process.js';
import { BASE_IMAGE, engineOrSkip, removeImages, runImage, startRegistry, type Registry } from '../support/images.js';

const RUN = randomBytes(4).toString('hex');
const OPTS: ImageBuildOptions = { baseImage: BASE_IMAGE, bridgeFile: join(ROOT, 'dist/berth.mjs'), timeoutMs: 600_000, maxContextBytes: 256 * 1024 * 1024 };
const work = mkdtempSync(join(tmpdir(), 'berth-image-revisions-'));

interface Recorder extends ImageContext {
  logs: string[];
  steps: string[];
}

function recorder(): Recorder {
  const logs: string[] = [];
  const steps: string[] = [];
  return { logs, steps, log: (l) => logs.push(l), progress: (p) => steps.push(p) };
}

const ENGINE = await engineOrSkip('revision images (test/e2e/image-revisions.test.ts)', { registry: true });

if (ENGINE) {
  const docker = ENGINE;
  const ids = [`img-${RUN}-a`, `img-${RUN}-b`];
  let registry: Registry | null = null;
  afterAll(async () => {
    for (const id of ids) await removeImages(docker, 'berth.deployment', id);
    await registry?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  describe('RevisionImages', () => {
    it('builds a revision once, pushes it, reuses it after a restart, and pulls it by digest when the engine lost it', async () => {
      registry = await startRegistry();
      const store = new MemoryDeploymentStore();
      const id = ids[0]!;
      await store.create(sampleDeployment(id));
      const root = join(work, 'a');
      cpSync(join(ROOT, 'test/fixtures/images/node-npm'), root, { recursive: true });
      const req = { deploymentId: id, revision: 1, digest: `sha256:${'1'.repeat(64)}`, root, report: detectSource(root) };
      const deps = { docker, store, build: OPTS, registry: registry.host, registryInsecure: true };
      const images = createImageBuilds(deps);
      const tag = imageTag(registry.host, id, 1);
      expect(tag).toBe(`${registry.host}/berth/${id}:r1`);

      // Two starts at once (two replicas): one build.
      const [c1, c2] = [recorder(), recorder()];
      const [a, b] = await Promise.all([images.imageFor(req, c1), images.imageFor(req, c2)]);
      expect(a).toStrictEqual(b);
      expect(a.ref).toBe(tag);
      expect(a.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(c1.steps).toContain(`building image ${tag}`);
      expect(c1.steps).toContain(`pushing image ${tag}`);
      expect(c2.logs.join('\n')).toMatch(/already under way/);
      expect(c2.steps).toStrictEqual([]);
      expect((await store.getRevision(id, 1))?.image).toBe(`${tag}@${a.digest}`);
      const labels = (await docker.getImage(tag).inspect()).Config.Labels;
      expect(labels).toMatchObject({ 'berth.deployment': id, 'berth.revision': '1', 'berth.source-digest': req.digest, 'berth.bridge': '/berth/berth.mjs' });

      // A restart, and a restarted Berth (a new instance): the image is found, nothing is built or pushed.
      for (const again of [images, createImageBuilds(deps)]) {
        const c = recorder();
        expect(await again.imageFor(req, c)).toStrictEqual(a);
        expect(c.steps).toStrictEqual([]);
        expect(c.logs.join('\n')).toMatch(/reusing the image/);
      }

      // The engine lost it (another host, a prune): pulled back by digest from the registry, not rebuilt.
      await docker.getImage(tag).remove({ force: true });
      expect(await docker.getImage(tag).inspect().then(() => true, () => false)).toBe(false);
      const c3 = recorder();
      expect(await createImageBuilds(deps).imageFor(req, c3)).toStrictEqual(a);
      expect(c3.steps).toStrictEqual([`pulling image ${tag}@${a.digest}`]);
      const pulled = await docker.getImage(tag).inspect();
      expect(pulled.RepoDigests).toContain(`${tag.slice(0, tag.lastIndexOf(':'))}@${a.digest}`);
      const run = await runImage(docker, tag, { 'berth.test-run': RUN });
      try {
        const client = await run.client();
        expect(await client.call('shout', { text: 'pulled' })).toBe('PULLED!');
        await client.close();
      } finally {
        await run.stop();
      }
    });

    it('without a registry: tagged localhost/berth/ID:rN, the tag recorded, no digest; another source digest rebuilds', async () => {
      const store = new MemoryDeploymentStore();
      const id = ids[1]!;
      await store.create(sampleDeployment(id));
      const root = join(work, 'b');
      cpSync(join(ROOT, 'test/fixtures/images/python-stdlib'), root, { recursive: true });
      const images = createImageBuilds({ docker, store, build: OPTS });
      const req = { deploymentId: id, revision: 1, digest: `sha256:${'2'.repeat(64)}`, root, report: detectSource(root) };
      expect(await images.imageFor(req, recorder())).toStrictEqual({ ref: `localhost/berth/${id}:r1`, digest: null });
      expect((await store.getRevision(id, 1))?.image).toBe(`localhost/berth/${id}:r1`);
      const again = recorder();
      await images.imageFor(req, again);
      expect(again.steps).toStrictEqual([]);
      // The same revision number with another source (a recreated deployment of that id): built anew.
      const other = recorder();
      await images.imageFor({ ...req, digest: `sha256:${'3'.repeat(64)}` }, other);
      expect(other.steps).toContain(`building image localhost/berth/${id}:r1`);
      expect((await docker.getImage(`localhost/berth/${id}:r1`).inspect()).Config.Labels['berth.source-digest']).toBe(`sha256:${'3'.repeat(64)}`);
      await expect(images.imageFor({ ...req, deploymentId: 'Bad/Id' }, recorder())).rejects.toThrow(/Invalid deployment id/);
    });
  });
}
