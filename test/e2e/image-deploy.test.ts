/**
 * The whole path on containers, in one Berth: a ZIP of a Node.js MCP server uploaded (POST /api/sources), a source
 * deployment on the container runtime, its image built by RevisionImages (recorded on the revision), run by the
 * container runtime, and its tools called through Berth's gateway with the MCP SDK. A restart reuses the image.
 * (app.ts does not build RevisionImages or a container runtime by itself yet: the test passes both in.)
 */
import { mkdtempSync, rmSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { packFolder } from '../../src/cli/source-pack.js';
import { loadConfig } from '../../src/config/config.js';
import { createImageBuilds, imageBuildsConfig } from '../../src/control/image-builds.js';
import { ContainerRuntime } from '../../src/runtime/container/index.js';
import { memoryStores } from '../../src/store/memory-store.js';
import { FileLogStore } from '../../src/telemetry/file-logs.js';
import { TestApi } from '../support/api.js';
import { ROOT } from '../support/berth-process.js';
import { BASE_IMAGE, ENGINE_SOCKET, engineOrSkip, removeImages } from '../support/images.js';
import { toolCaller } from '../support/sandbox.js';

const RUN = randomBytes(4).toString('hex');
const TOKEN = `brt_${randomBytes(24).toString('hex')}`;
const BRIDGE = join(ROOT, 'dist/berth.mjs');

const ENGINE = await engineOrSkip('source deployments on containers (test/e2e/image-deploy.test.ts)');

if (ENGINE) {
  const docker = ENGINE;
  const dataDir = mkdtempSync(join(tmpdir(), 'berth-image-deploy-'));
  let app: App | null = null;
  let runtime: ContainerRuntime | null = null;
  let deploymentId = '';
  let baseUrl = '';
  afterAll(async () => {
    if (app && deploymentId) await fetch(`${baseUrl}/api/deployments/${deploymentId}`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } }).catch(() => {});
    await app?.close().catch(() => {});
    await runtime?.stopAll(2_000).catch(() => {});
    // The runtime's per-deployment networks are named after BERTH_CONTAINER_NETWORK (this run's).
    for (const n of await docker.listNetworks().catch(() => [])) if (n.Name.startsWith(`berth-test-${RUN}`)) await docker.getNetwork(n.Id).remove().catch(() => {});
    if (deploymentId) await removeImages(docker, 'berth.deployment', deploymentId);
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('a source deployment on the container runtime', () => {
    it('uploads a ZIP, builds its image once, runs it, and answers tools through the gateway', async () => {
      const config = loadConfig({}, { host: '127.0.0.1', port: 0, dataDir, apiToken: TOKEN, logLevel: 'silent', defaultRuntime: 'container' });
      const stores = memoryStores();
      const logs = new FileLogStore({ dir: join(dataDir, 'logs'), redact: (t: string) => t });
      runtime = new ContainerRuntime({
        socketPath: ENGINE_SOCKET,
        dataDir,
        logs,
        owner: `t${RUN}`,
        network: `berth-test-${RUN}`,
        bridgeFile: BRIDGE,
        defaultImage: BASE_IMAGE,
        limits: { defaults: { memoryMb: 256, pids: 256, cpus: 1 }, max: { memoryMb: 1024, pids: 1024, cpus: 2 } },
        mountRoots: [],
        onShutdown: 'stop',
        stopGraceMs: 2_000,
      });
      const images = createImageBuilds({ docker, store: stores.deployments, ...imageBuildsConfig(config, BRIDGE) });
      app = await createApp(config, { stores, logs, runtime, images });
      const base = (await app.listen()).url;
      baseUrl = base;
      const api = new TestApi(base, TOKEN);

      const zip = join(dataDir, 'server.zip');
      await packFolder(join(ROOT, 'test/fixtures/images/node-npm'), zip);
      const up = await fetch(`${base}/api/sources`, { method: 'POST', headers: { ...api.authHeaders(), 'content-type': 'application/zip', 'content-length': String(statSync(zip).size) }, body: readFileSync(zip) });
      const uploaded = (await up.json()) as { digest: string };
      expect(up.status).toBe(201);
      const made = await api.call<{ id: string }>('POST', '/api/deployments', { name: `image-deploy-${RUN}`, access: 'private', spec: { type: 'source', source: { kind: 'upload', digest: uploaded.digest }, runtime: 'container' } });
      expect(made.status).toBe(201);
      deploymentId = made.body.id;
      await api.waitFor(deploymentId, 'running', 600_000);

      const client = await toolCaller(`${base}/s/${deploymentId}/mcp`, api.authHeaders());
      expect(await client.call('shout', { text: 'from a container' })).toBe('FROM A CONTAINER!');
      expect(JSON.parse(await client.call('whoami'))).toMatchObject({ uid: 10001, cwd: '/app' });
      await client.close();

      const revisions = await api.call<{ items?: { number: number; image: string | null }[] } | { number: number; image: string | null }[]>('GET', `/api/deployments/${deploymentId}/revisions`);
      const list = Array.isArray(revisions.body) ? revisions.body : (revisions.body.items ?? []);
      expect(list.find((r) => r.number === 1)?.image).toBe(`localhost/berth/${deploymentId}:r1`);
      const log = (await api.call<unknown>('GET', `/api/deployments/${deploymentId}/logs?tail=1000`)).body;
      expect(JSON.stringify(log)).toMatch(/built localhost\/berth\//);

      // A restart runs the same image: nothing is built again.
      expect((await api.call('POST', `/api/deployments/${deploymentId}/restart`)).status).toBeLessThan(300);
      // (The status says running before the restart has begun: the first calls may meet the old container going.)
      const deadline = Date.now() + 120_000;
      for (;;) {
        try {
          const again = await toolCaller(`${base}/s/${deploymentId}/mcp`, api.authHeaders());
          expect(await again.call('echo', { text: 'again' })).toBe('again');
          await again.close();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      const after = JSON.stringify((await api.call<unknown>('GET', `/api/deployments/${deploymentId}/logs?tail=1000`)).body);
      expect(after.match(/berth: building localhost\/berth\//g)?.length ?? 0).toBe(1);
    });
  });
}
