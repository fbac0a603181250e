/**
 * Deploying from source on the CONTAINER runtime through one real Berth process (issue 12, "Tests": the container
 * half of test/e2e/sources.test.ts and git-catalog.test.ts). Nothing is passed in: Berth's own wiring (app.ts's
 * RuntimeRouter with its lazy ContainerRuntime, and the lazy image builds on the same engine) builds each source
 * revision's image on Podman and runs it. A ZIP of a Node server (a vendored dependency: builds reach no registry
 * here), a ZIP of a TypeScript one that needs `npm run build`, a ZIP of a standard-library Python one, a folder
 * through `berth deploy DIR --runtime container`, and a git repository (a bare repository made here, a tag and a
 * subdirectory); for each the tools answer through the gateway with the MCP SDK (1.x and 2.x), the revision records
 * its image, a restart reuses it. Then new code under load from two sessions that go on across the switch, and a rollback that serves the first revision's image again. Containers, images and networks made here are removed.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packFolder } from '../../src/cli/source-pack.js';
import { buildWheel } from '../../src/packages/testing/fixtures.js';
import type { DeploymentView, RevisionView } from '../../src/core/index.js';
import { gitAvailable, TestRepo } from '../../src/sources/git/testing/repo.js';
import { TestApi } from '../support/api.js';
import { ROOT, startBerth, type BerthProcess } from '../support/berth-process.js';
import { berthCli, endpointIn } from '../support/cli.js';
import { connectV1, connectV2, textOf, type ClientFactory, type McpTestClient } from '../support/clients.js';
import { BASE_IMAGE, ENGINE_SOCKET, engineOrSkip, removeImages } from '../support/images.js';

const SUITE = 'source deployments on the container runtime through a real Berth (test/e2e/sources-container.test.ts)';
const ENGINE = await engineOrSkip(SUITE);
const HAS_GIT = gitAvailable(SUITE, it);
const RUN = randomBytes(4).toString('hex');
const NETWORK = `berth-e2e-${RUN}`;
const BUILD_MS = 600_000;
const FIXTURES = join(ROOT, 'test/fixtures/images');

if (ENGINE && HAS_GIT) {
  const docker = ENGINE;
  const work = mkdtempSync(join(tmpdir(), 'berth-sources-container-'));
  const wheels = join(work, 'wheels');
  buildWheel(wheels, 'berth-tiny-mcp', '0.3.0');
  const ids = new Set<string>();
  let berth: BerthProcess;
  let api: TestApi;

  beforeAll(async () => {
    berth = await startBerth({
      env: {
        BERTH_CONTAINER_SOCKET: ENGINE_SOCKET,
        BERTH_CONTAINER_NETWORK: NETWORK,
        BERTH_BASE_IMAGE: BASE_IMAGE,
        BERTH_BUILD_TIMEOUT_S: '600',
        BERTH_START_TIMEOUT_S: '120',
        BERTH_GIT_ALLOW_FILE: 'true',
        // Old revisions' containers end this long after a switch (plus a second).
        BERTH_DRAIN_S: '3',
        // PyPI is not reachable here: a PyPI package comes from a wheel built by this suite.
        BERTH_PYPI_FIND_LINKS: wheels,
      },
    });
    api = new TestApi(berth.url, berth.token);
  });

  afterAll(async () => {
    // Containers outlive Berth (onShutdown "leave"): remove the deployments first, then anything left.
    for (const id of ids) await api?.call('DELETE', `/api/deployments/${id}`).catch(() => {});
    await berth?.dispose();
    for (const c of await docker.listContainers({ all: true, filters: { label: ['berth.deployment'] } }).catch(() => [])) {
      if (ids.has(c.Labels['berth.deployment'] ?? '')) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
    }
    for (const id of ids) await removeImages(docker, 'berth.deployment', id);
    for (const n of await docker.listNetworks().catch(() => [])) if (n.Name.startsWith(NETWORK)) await docker.getNetwork(n.Id).remove().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  });

  /** A copy of a fixture folder (with files changed), and the TypeScript compiler vendored when it needs it. */
  function folderOf(fixture: string, changes: Record<string, string> = {}): string {
    const dir = mkdtempSync(join(work, `${fixture}-`));
    cpSync(join(FIXTURES, fixture), dir, { recursive: true });
    if (fixture === 'node-ts') {
      mkdirSync(join(dir, 'vendor'));
      // Berth's own typescript devDependency as an npm tarball: the build container reaches no registry.
      execFileSync('tar', ['-C', join(ROOT, 'node_modules'), '-czf', join(dir, 'vendor/typescript.tgz'), '--transform', 's,^typescript,package,', 'typescript']);
    }
    for (const [rel, text] of Object.entries(changes)) writeFileSync(join(dir, rel), text);
    return dir;
  }

  async function zipOf(fixture: string, changes: Record<string, string> = {}): Promise<Buffer> {
    const dir = folderOf(fixture, changes);
    await packFolder(dir, `${dir}.zip`);
    return readFileSync(`${dir}.zip`);
  }

  async function upload(zip: Buffer): Promise<string> {
    const res = await fetch(`${berth.url}/api/sources`, { method: 'POST', headers: { ...berth.authHeaders(), 'content-type': 'application/zip' }, body: zip });
    const body = (await res.json()) as { digest: string };
    expect(res.status, JSON.stringify(body)).toBe(201);
    return body.digest;
  }

  /** A deployment in one multipart request: the spec and its ZIP, on the container runtime. */
  async function deployZip(name: string, zip: Buffer): Promise<DeploymentView> {
    const form = new FormData();
    form.set('deployment', JSON.stringify({ name, access: 'private', spec: { runtime: 'container' } }));
    form.set('source', new Blob([zip], { type: 'application/zip' }), `${name}.zip`);
    const res = await fetch(`${berth.url}/api/deployments`, { method: 'POST', headers: berth.authHeaders(), body: form });
    const body = (await res.json()) as DeploymentView;
    expect(res.status, JSON.stringify(body)).toBe(201);
    ids.add(body.id);
    return body;
  }

  const history = async (id: string): Promise<RevisionView[]> => (await api.call<{ items: RevisionView[] }>('GET', `/api/deployments/${id}/revisions`)).body.items;
  const logsOf = async (id: string): Promise<string> => (await api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${id}/logs?tail=2000`)).body.items.map((e) => e.line).join('\n');
  const builds = (logs: string): number => (logs.match(/berth: building localhost\/berth\//g) ?? []).length;
  const imageId = async (ref: string): Promise<string> => ((await docker.getImage(ref).inspect()) as { Id: string }).Id;

  async function withClient<T>(connect: ClientFactory, d: DeploymentView, f: (c: McpTestClient) => Promise<T>): Promise<T> {
    const c = await connect(d.endpoint, berth.authHeaders());
    try {
      return await f(c);
    } finally {
      await c.close();
    }
  }

  /** The tool's answer; retried while a restart replaces the container (the status says running before it begins). */
  async function callEventually(connect: ClientFactory, d: DeploymentView, tool: string, args: Record<string, unknown>): Promise<string> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        return await withClient(connect, d, async (c) => textOf(await c.call(tool, args)));
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** The revision's image: recorded on the revision, present in the engine, labelled with the deployment. */
  async function revisionImage(d: DeploymentView, number: number): Promise<string> {
    const rev = (await history(d.id)).find((r) => r.number === number);
    expect(rev?.image).toBe(`localhost/berth/${d.id}:r${number}`);
    const labels = ((await docker.getImage(rev!.image!).inspect()) as { Config: { Labels: Record<string, string> } }).Config.Labels;
    expect(labels).toMatchObject({ 'berth.deployment': d.id, 'berth.revision': String(number), 'berth.bridge': '/berth/berth.mjs' });
    return rev!.image!;
  }

  /** A restart runs the same image: no second build, the same image id. */
  async function restartReuses(d: DeploymentView, image: string, check: () => Promise<void>): Promise<void> {
    const id = await imageId(image);
    const before = builds(await logsOf(d.id));
    expect(before).toBe(1);
    const r = await berthCli(berth, ['restart', d.name]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    await api.settled(d.id, 120_000);
    await check();
    expect(builds(await logsOf(d.id))).toBe(before);
    expect(await imageId(image)).toBe(id);
  }

  /** The deployment's running containers (this Berth's), with their published loopback port. */
  async function containersOf(id: string): Promise<{ id: string; port: number; env: string[] }[]> {
    const out = [];
    for (const c of await docker.listContainers({ filters: { label: [`berth.deployment=${id}`] } })) {
      const info = (await docker.getContainer(c.Id).inspect()) as { Config: { Env: string[] }; NetworkSettings: { Ports: Record<string, { HostPort: string }[] | null> } };
      const port = Number(Object.values(info.NetworkSettings.Ports).flat()[0]?.HostPort ?? 0);
      out.push({ id: c.Id, port, env: info.Config.Env });
    }
    return out;
  }

  describe('deploy from source on the container runtime (a real Berth, real Podman)', () => {
    let node: DeploymentView;
    let nodeImage = '';

    it('a ZIP of a Node server (vendored dependency): image built once, recorded on revision 1, tools through the gateway; a restart reuses the image', async () => {
      const digest = await upload(await zipOf('node-npm'));
      const made = await api.call<DeploymentView>('POST', '/api/deployments', { name: 'ct-node', access: 'private', spec: { type: 'source', source: { kind: 'upload', digest }, runtime: 'container' } });
      expect(made.status, JSON.stringify(made.body)).toBe(201);
      node = made.body;
      ids.add(node.id);
      await api.waitFor(node.id, 'running', BUILD_MS);
      const out = await withClient(connectV1, node, async (c) => ({ tools: (await c.listToolNames()).sort(), shout: textOf(await c.call('shout', { text: 'from a container' })), who: textOf(await c.call('whoami')) }));
      expect(out.tools).toStrictEqual(['echo', 'shout', 'whoami']);
      expect(out.shout).toBe('FROM A CONTAINER!');
      expect(JSON.parse(out.who)).toMatchObject({ uid: 10001, cwd: '/app' });
      nodeImage = await revisionImage(node, 1);
      expect((await history(node.id))[0]).toMatchObject({ number: 1, source_digest: digest });
      expect(await logsOf(node.id)).toMatch(/built localhost\/berth\//);
      await restartReuses(node, nodeImage, async () => {
        expect(await callEventually(connectV2, node, 'echo', { text: 'again' })).toBe('again');
      });
    }, BUILD_MS + 180_000);

    it("the container's bridge port needs the per-workload token: without it 401, Berth's gateway sends it", async () => {
      const running = await containersOf(node.id);
      expect(running.length).toBe(1);
      const { port, env } = running[0]!;
      expect(env.some((e) => /^BERTH_BRIDGE_TOKEN=.{16,}/.test(e))).toBe(true);
      const res = await fetch(`http://127.0.0.1:${port}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
      });
      await res.body?.cancel();
      expect(res.status).toBe(401);
    });

    it('a ZIP of a TypeScript server (npm run build in the image), in one multipart request; SDK 2.x client', async () => {
      const ts = await deployZip('ct-ts', await zipOf('node-ts'));
      expect(ts.spec).toMatchObject({ type: 'source', runtime: 'container', source: { kind: 'upload' } });
      await api.waitFor(ts.id, 'running', BUILD_MS);
      expect(await withClient(connectV2, ts, async (c) => textOf(await c.call('add', { a: 2, b: 40 })))).toBe('sum=42 uid=10001');
      const image = await revisionImage(ts, 1);
      expect(await logsOf(ts.id)).toContain('RUN ["npm","run","build"]');
      await restartReuses(ts, image, async () => {
        expect(await callEventually(connectV1, ts, 'add', { a: 1, b: 1 })).toBe('sum=2 uid=10001');
      });
    }, BUILD_MS + 180_000);

    it('a ZIP of a standard-library Python server', async () => {
      const py = await deployZip('ct-py', await zipOf('python-stdlib'));
      await api.waitFor(py.id, 'running', BUILD_MS);
      expect(await withClient(connectV1, py, async (c) => textOf(await c.call('reverse', { text: 'container' })))).toBe('reniatnoc');
      expect(JSON.parse(await withClient(connectV2, py, async (c) => textOf(await c.call('whoami'))))).toMatchObject({ uid: 10001 });
      await revisionImage(py, 1);
    }, BUILD_MS + 60_000);

    it('a folder through the CLI: berth deploy DIR --runtime container', async () => {
      const dir = folderOf('python-stdlib');
      const out = await berthCli(berth, ['deploy', dir, '--name', 'ct-folder', '--runtime', 'container', '--timeout', '600'], BUILD_MS);
      expect(out.code, out.stderr + out.stdout).toBe(0);
      const d = (await api.call<DeploymentView>('GET', '/api/deployments/ct-folder')).body;
      ids.add(d.id);
      expect(d.spec).toMatchObject({ type: 'source', runtime: 'container' });
      expect(endpointIn(out.stdout)).toBe(d.endpoint);
      expect(await withClient(connectV1, d, async (c) => textOf(await c.call('reverse', { text: 'folder' })))).toBe('redlof');
      await revisionImage(d, 1);
    }, BUILD_MS + 60_000);

    it('a git repository (bare, a tag and a subdirectory): berth deploy git+file://…#v1:servers/py --runtime container', async () => {
      const repo = new TestRepo();
      try {
        const py = readFileSync(join(FIXTURES, 'python-stdlib/server.py'), 'utf8');
        repo.commit({ 'README.md': '# tools\n' }, 'start');
        const v1 = repo.commit({ 'servers/py/server.py': py }, 'v1');
        repo.tag('v1');
        repo.commit({ 'servers/py/server.py': py.replace('[::-1]', '[::-1].upper()') }, 'v2');
        repo.push();
        const out = await berthCli(berth, ['deploy', `git+${repo.fileUrl}#v1:servers/py`, '--name', 'ct-git', '--runtime', 'container', '--timeout', '600'], BUILD_MS);
        expect(out.code, out.stderr + out.stdout).toBe(0);
        const d = (await api.call<DeploymentView>('GET', '/api/deployments/ct-git')).body;
        ids.add(d.id);
        expect(d.spec).toMatchObject({ type: 'source', runtime: 'container', source: { kind: 'git', ref: 'v1', subdir: 'servers/py', commit: v1 } });
        // The tag's code (v1), not the branch head's (v2 upper-cases).
        expect(await withClient(connectV2, d, async (c) => textOf(await c.call('reverse', { text: 'git' })))).toBe('tig');
        const image = await revisionImage(d, 1);
        await restartReuses(d, image, async () => {
          expect(await callEventually(connectV1, d, 'reverse', { text: 'again' })).toBe('niaga');
        });
      } finally {
        repo.remove();
      }
    }, BUILD_MS + 180_000);

    it('a catalog template (catalog:memory, the npm package): berth deploy catalog:memory --runtime container; installed once into the package cache, run read-only in the base image', async () => {
      const out = await berthCli(berth, ['deploy', 'catalog:memory', '--name', 'ct-kg', '--runtime', 'container', '--timeout', '300'], 320_000);
      expect(out.code, out.stderr + out.stdout).toBe(0);
      const d = (await api.call<DeploymentView>('GET', '/api/deployments/ct-kg')).body;
      ids.add(d.id);
      expect(d.spec).toMatchObject({ type: 'package', registry: 'npm', name: '@modelcontextprotocol/server-memory', runtime: 'container' });
      const running = await containersOf(d.id);
      expect(running).toHaveLength(1);
      const info = (await docker.getContainer(running[0]!.id).inspect()) as { Config: { Image: string; User: string }; HostConfig: { ReadonlyRootfs: boolean } };
      expect(info.Config.Image).toBe(BASE_IMAGE);
      expect(info.HostConfig.ReadonlyRootfs).toBe(true);
      const text = await withClient(connectV1, d, async (c) => {
        await c.call('create_entities', { entities: [{ name: 'berth', entityType: 'project', observations: ['deployed from the catalog into a container'] }] });
        return textOf(await c.call('read_graph'));
      });
      expect(text).toContain('deployed from the catalog into a container');
    }, 360_000);

    it("a PyPI package (a local wheel) with --runtime container: the venv in the package cache runs read-only in the base image with the venv's python", async () => {
      const out = await berthCli(berth, ['deploy', '--package', 'pypi:berth-tiny-mcp', '--name', 'ct-py-pkg', '--runtime', 'container', '--timeout', '200'], 220_000);
      expect(out.code, out.stderr + out.stdout).toBe(0);
      const d = (await api.call<DeploymentView>('GET', '/api/deployments/ct-py-pkg')).body;
      ids.add(d.id);
      expect(d.spec).toMatchObject({ type: 'package', registry: 'pypi', name: 'berth-tiny-mcp', version: '0.3.0', runtime: 'container' });
      const running = await containersOf(d.id);
      expect(running).toHaveLength(1);
      const me = await withClient(connectV2, d, async (c) => JSON.parse(textOf(await c.call('whoami'))) as { argv: string[]; executable: string });
      expect(me.executable).toMatch(/\/packages\/entries\/pypi\/berth-tiny-mcp@0\.3\.0-[0-9a-f]{16}\/bin\/python$/);
      const info = (await docker.getContainer(running[0]!.id).inspect()) as { Config: { Image: string } };
      expect(info.Config.Image).toBe(BASE_IMAGE);
    }, 240_000);

    // Sessions are Berth's (its bridge over a channel to the bridge in the container): the switch to revision 2's
    // container happens under them, as a process swap does on the process runtime.
    it('sessions opened on revision 1 keep working through an update with new code (PUT /source): zero failed calls from 2 sessions', async () => {
      const server = readFileSync(join(FIXTURES, 'node-npm/server.mjs'), 'utf8');
      const changed = server.replace("if (name === 'echo') return text(String(args.text));", "if (name === 'echo') return text(`v2 ${String(args.text)}`);");
      expect(changed).not.toBe(server);
      const zip = await zipOf('node-npm', { 'server.mjs': changed });

      const clients = [await connectV1(node.endpoint, berth.authHeaders()), await connectV2(node.endpoint, berth.authHeaders())];
      const failures: string[] = [];
      const answers: string[][] = [[], []];
      let stop = false;
      const loops = clients.map(async (c, i) => {
        let n = 0;
        while (!stop) {
          try {
            answers[i]!.push(textOf(await c.call('echo', { text: `c${i}-${n++}` })));
          } catch (err) {
            failures.push(`${c.sdk}: ${String(err)}`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      });
      try {
        while (answers.some((a) => a.length < 3)) await new Promise((r) => setTimeout(r, 50));
        const res = await fetch(`${berth.url}/api/deployments/${node.id}/source`, { method: 'PUT', headers: { ...berth.authHeaders(), 'content-type': 'application/zip' }, body: zip });
        const body = await res.text();
        expect(res.status, body).toBeLessThan(300);
        // Until revision 2 serves (built, started, switched), then a few more calls from each session.
        const deadline = Date.now() + BUILD_MS;
        while ((await api.status(node.id)).serving_revision !== 2) {
          if (Date.now() > deadline) throw new Error(`revision 2 never served: ${JSON.stringify(await api.status(node.id))}`);
          await new Promise((r) => setTimeout(r, 500));
        }
        await new Promise((r) => setTimeout(r, 3000));
      } finally {
        stop = true;
        await Promise.all(loops);
        for (const c of clients) await c.close().catch(() => {});
      }
      expect(failures.slice(0, 2)).toStrictEqual([]);
      expect(answers.every((a) => a.at(-1)?.startsWith('v2 '))).toBe(true);
    }, BUILD_MS + 120_000);

    it("revision 2 (the new code) runs its own image; a rollback serves revision 1's code again", async () => {
      expect((await api.status(node.id)).serving_revision).toBe(2);
      expect(await callEventually(connectV1, node, 'echo', { text: 'new' })).toBe('v2 new');
      const image2 = await revisionImage(node, 2);
      expect(image2).not.toBe(nodeImage);
      expect(builds(await logsOf(node.id))).toBe(2);

      const back = await api.call<DeploymentView>('POST', `/api/deployments/${node.id}/rollback`, {});
      expect(back.status, JSON.stringify(back.body)).toBeLessThan(300);
      await api.waitFor(node.id, 'running', 120_000);
      const deadline = Date.now() + 120_000;
      while ((await callEventually(connectV2, node, 'echo', { text: 'back' })) !== 'back') {
        if (Date.now() > deadline) throw new Error('the rollback never served the first code');
        await new Promise((r) => setTimeout(r, 500));
      }
      const revs = await history(node.id);
      expect(revs[0]).toMatchObject({ number: 3, reason: 'rollback', from_revision: 1 });
    }, 300_000);

    // The rollback's revision 3 has revision 1's source, start and base image (the same build key): it gets a tag of
    // its own on revision 1's image, and nothing is built.
    it("the rollback's revision runs revision 1's image (no build for revision 3)", async () => {
      const revs = await history(node.id);
      expect(revs[0]).toMatchObject({ number: 3, image: `localhost/berth/${node.id}:r3` });
      expect(await imageId(revs[0]!.image!)).toBe(await imageId(nodeImage));
      expect(builds(await logsOf(node.id))).toBe(2);
      expect(await logsOf(node.id)).toMatch(/reusing the image of revision 1 /);
      // Revision 2's container ends after the drain: then revision 3's is the one left.
      const deadline = Date.now() + 30_000;
      let running = await containersOf(node.id);
      while (running.length !== 1 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        running = await containersOf(node.id);
      }
      expect(running.length).toBe(1);
      const image = ((await docker.getContainer(running[0]!.id).inspect()) as { Image: string }).Image;
      expect(image).toBe(await imageId(nodeImage));
    }, 300_000);

    it('deleting a source deployment removes its container and the images built for it', async () => {
      const images = async (): Promise<number> => (await docker.listImages({ filters: { label: [`berth.deployment=${node.id}`] } })).length;
      expect(await images()).toBeGreaterThanOrEqual(2);
      const r = await api.call('DELETE', `/api/deployments/${node.id}`);
      expect(r.status).toBeLessThan(300);
      const deadline = Date.now() + 60_000;
      while ((await containersOf(node.id)).length > 0 || (await images()) > 0) {
        if (Date.now() > deadline) throw new Error(`left behind: ${(await containersOf(node.id)).length} containers, ${await images()} images`);
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(await logsOf(node.id).catch(() => '')).not.toMatch(/removing its images failed/);
    }, 120_000);
  });
}
