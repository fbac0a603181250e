import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { detectSource } from '../build/detect/index.js';
import { loadConfig } from '../config/config.js';
import { BerthError } from '../core/errors.js';
import { MemoryDeploymentStore } from '../store/memory-store.js';
import { sampleDeployment } from '../store/store.contract.js';
import { createImageBuilds, imageBuildsConfig, imageTag } from './image-builds.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-image-builds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ctx = { log: () => {}, progress: () => {} };

describe('image builds (no engine needed)', () => {
  it('tags REGISTRY/berth/ID:rN, localhost without a registry', () => {
    expect(imageTag(undefined, 'weather', 3)).toBe('localhost/berth/weather:r3');
    expect(imageTag('registry.example:5000/team', 'weather', 3)).toBe('registry.example:5000/team/berth/weather:r3');
  });

  it('maps the configuration onto build options', () => {
    const config = loadConfig({ BERTH_REGISTRY: '127.0.0.1:5000', BERTH_REGISTRY_INSECURE: 'true', BERTH_BUILD_CA_FILE: '/etc/ca.pem', BERTH_BUILD_NPM_REGISTRY: 'https://npm.example/', BERTH_BUILD_TIMEOUT_S: '60' });
    const opts = imageBuildsConfig(config, '/opt/berth/dist/berth.mjs');
    expect(opts).toMatchObject({ registry: '127.0.0.1:5000', registryInsecure: true, build: { baseImage: 'localhost/berth/base:bookworm', bridgeFile: '/opt/berth/dist/berth.mjs', caFile: '/etc/ca.pem', npmRegistry: 'https://npm.example/', timeoutMs: 60_000 } });
    expect(opts.build.pipIndexUrl).toBeUndefined();
    expect(imageBuildsConfig(loadConfig({}), '/b').registry).toBeUndefined();
  });

  it('an unreachable engine is ENGINE_UNAVAILABLE, and nothing is recorded', async () => {
    const store = new MemoryDeploymentStore();
    await store.create(sampleDeployment('img-unit'));
    writeFileSync(join(dir, 'server.py'), 'print(1)\n');
    const images = createImageBuilds({
      docker: new Docker({ socketPath: join(dir, 'no-engine.sock') }),
      store,
      build: { baseImage: 'x', bridgeFile: '/nonexistent', timeoutMs: 10_000, maxContextBytes: 1 << 20 },
    });
    const err = await images.imageFor({ deploymentId: 'img-unit', revision: 1, digest: 'sha256:00', root: dir, report: detectSource(dir) }, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('ENGINE_UNAVAILABLE');
    expect((await store.getRevision('img-unit', 1))?.image).toBeNull();
  });

  it('refuses a deployment id that cannot name an image, and a revision below 1', async () => {
    const images = createImageBuilds({ docker: new Docker({ socketPath: join(dir, 'x.sock') }), store: new MemoryDeploymentStore(), build: { baseImage: 'x', bridgeFile: '/x', timeoutMs: 1000, maxContextBytes: 1 } });
    const req = { deploymentId: 'Has/Slash', revision: 1, digest: 'sha256:00', root: dir, report: detectSource(dir) };
    await expect(images.imageFor(req, ctx)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(images.imageFor({ ...req, deploymentId: 'ok', revision: 0 }, ctx)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
