/**
 * Image builds against the real engine (Podman's Docker-compatible socket): Berth's generated Dockerfile for a
 * Node.js (npm, a vendored dependency), a TypeScript (build step), a standard-library Python and a Python server
 * with a vendored wheel (pip), and a source's own Dockerfile wrapped with the bridge; each image is run hardened on a loopback port and its tools are
 * called with the MCP SDK through the bridge's token. Also: the dependency layer reused when only a source file
 * changes, a failing install reported with its log, an image without node refused with a clear reason.
 *
 * Fixtures have no registry dependencies (no registry is reachable from every build): the Node one installs a
 * vendored tarball with `npm ci`, the TypeScript one gets the compiler packed from Berth's own devDependency.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { detectSource } from '../../src/build/detect/index.js';
import { buildSourceImage, type ImageBuildOptions } from '../../src/build/image/build.js';
import { BerthError } from '../../src/core/errors.js';
import { ROOT } from '../support/berth-process.js';
import { BASE_IMAGE, engineOrSkip, removeImages, runImage } from '../support/images.js';

const RUN = randomBytes(4).toString('hex');
const LABEL = 'berth.test-run';
const labels = { [LABEL]: RUN };
const FIXTURES = join(ROOT, 'test/fixtures/images');
const BRIDGE = join(ROOT, 'dist/berth.mjs');
const OPTS: ImageBuildOptions = { baseImage: BASE_IMAGE, bridgeFile: BRIDGE, timeoutMs: 600_000, maxContextBytes: 256 * 1024 * 1024 };
const work = mkdtempSync(join(tmpdir(), 'berth-image-build-'));

/** A copy of a fixture in a temporary folder (the stored tree is read-only; tests change their copy). */
function source(name: string, as = name): string {
  const dir = join(work, as);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

function build(root: string, tag: string, logs: string[] = [], progress: string[] = []) {
  return buildSourceImage(ENGINE!, OPTS, { root, report: detectSource(root), tag, labels, log: (l) => logs.push(l), progress: (p) => progress.push(p) });
}

const ENGINE = await engineOrSkip('image builds (test/e2e/image-build.test.ts)');

if (ENGINE) {
  const docker = ENGINE;
  afterAll(async () => {
    await removeImages(docker, LABEL, RUN);
    rmSync(work, { recursive: true, force: true });
  });

  describe('image builds through the engine API', () => {
    it('Node.js (npm ci of a vendored dependency): runs as uid 10001 behind the bridge; a source-only change reuses the dependency layer', async () => {
      const root = source('node-npm');
      const logs: string[] = [];
      const progress: string[] = [];
      const r1 = await build(root, `localhost/berth-test/${RUN}-node:r1`, logs, progress);
      expect(r1.dockerfile).toBe('generated');
      expect(r1.start).toStrictEqual(['node', 'server.mjs']);
      expect(logs.some((l) => /RUN \["npm","ci"\]/.test(l))).toBe(true);
      expect(progress.some((p) => /^building image: step \d+\/\d+/.test(p))).toBe(true);
      const run = await runImage(docker, `localhost/berth-test/${RUN}-node:r1`, labels, { GREETING: 'hi' });
      try {
        const c = await run.client();
        expect(await c.call('echo', { text: 'héllo' })).toBe('héllo');
        expect(await c.call('shout', { text: 'deps' })).toBe('DEPS!');
        expect(JSON.parse(await c.call('whoami'))).toStrictEqual({ uid: 10001, cwd: '/app', greeting: 'hi' });
        await c.close();
        // Without the token the bridge answers 401.
        const res = await fetch(run.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
        expect(res.status).toBe(401);
      } finally {
        await run.stop();
      }
      // Only a source file changes: the install step comes from the cache.
      appendFileSync(join(root, 'server.mjs'), '\n// revision 2\n');
      const r2 = await build(root, `localhost/berth-test/${RUN}-node:r2`);
      expect(r2.cached).toContain('RUN ["npm","ci"]');
      expect(r2.cached).not.toContain('COPY ["app/","./"]');
      expect(r2.id).not.toBe(r1.id);
      // A changed lockfile (a new dependency) reinstalls.
      const lock = JSON.parse(execFileSync('cat', [join(root, 'package-lock.json')], { encoding: 'utf8' })) as { packages: Record<string, { version?: string }> };
      lock.packages['']!.version = '1.0.1';
      writeFileSync(join(root, 'package-lock.json'), JSON.stringify(lock, null, 2));
      const r3 = await build(root, `localhost/berth-test/${RUN}-node:r3`);
      expect(r3.cached).not.toContain('RUN ["npm","ci"]');
    });

    it('TypeScript: the build stage runs tsc, the runtime stage runs dist/ without the compiler', async () => {
      const root = source('node-ts');
      mkdirSync(join(root, 'vendor'));
      // An npm tarball of Berth's own typescript devDependency (package/ prefix), so the build needs no registry.
      execFileSync('tar', ['-C', join(ROOT, 'node_modules'), '-czf', join(root, 'vendor/typescript.tgz'), '--transform', 's,^typescript,package,', 'typescript']);
      const logs: string[] = [];
      const r = await build(root, `localhost/berth-test/${RUN}-ts:r1`, logs);
      expect(r.start).toStrictEqual(['node', 'dist/index.js']);
      expect(logs.some((l) => l.includes('RUN ["npm","run","build"]'))).toBe(true);
      const run = await runImage(docker, `localhost/berth-test/${RUN}-ts:r1`, labels);
      try {
        const c = await run.client();
        expect(await c.call('add', { a: 2, b: 40 })).toBe('sum=42 uid=10001');
        await c.close();
      } finally {
        await run.stop();
      }
      // `npm prune --omit=dev` left the compiler in the build stage.
      const out = await runOnce(docker, `localhost/berth-test/${RUN}-ts:r1`, ['node', '-e', "try{require.resolve('typescript');console.log('present')}catch{console.log('absent')}"]);
      expect(out.trim()).toBe('absent');
    });

    it('Python (standard library): a venv, python server.py behind the bridge', async () => {
      const root = source('python-stdlib');
      const r = await build(root, `localhost/berth-test/${RUN}-py:r1`);
      expect(r.start).toStrictEqual(['python', 'server.py']);
      const run = await runImage(docker, `localhost/berth-test/${RUN}-py:r1`, labels);
      try {
        const c = await run.client();
        expect(await c.call('reverse', { text: 'berth' })).toBe('htreb');
        expect(JSON.parse(await c.call('whoami'))).toStrictEqual({ uid: 10001, python: '/app/.venv/bin/python' });
        await c.close();
      } finally {
        await run.stop();
      }
    });

    it('Python with a vendored wheel in requirements.txt: pip installs it into the venv with no index', async () => {
      const root = source('python-vendored');
      const logs: string[] = [];
      await build(root, `localhost/berth-test/${RUN}-pyv:r1`, logs);
      expect(logs.some((l) => l.includes('COPY ["app/vendor/greet-1.0-py3-none-any.whl","./vendor/greet-1.0-py3-none-any.whl"]'))).toBe(true);
      expect(logs.some((l) => /Successfully installed greet-1\.0/.test(l))).toBe(true);
      const run = await runImage(docker, `localhost/berth-test/${RUN}-pyv:r1`, labels);
      try {
        const c = await run.client();
        expect(await c.call('greet', { name: 'berth' })).toBe('hello, berth');
        await c.close();
      } finally {
        await run.stop();
      }
    });

    it("a source's own Dockerfile is built as is and wrapped: the bridge runs its CMD", async () => {
      const root = source('python-stdlib', 'own-dockerfile');
      writeFileSync(join(root, 'Dockerfile'), `FROM ${BASE_IMAGE}\nCOPY server.py /srv/server.py\nUSER 4321\nCMD ["python3", "/srv/server.py"]\n`);
      const logs: string[] = [];
      const r = await build(root, `localhost/berth-test/${RUN}-own:r1`, logs);
      expect(r.dockerfile).toBe('own');
      expect(r.start).toStrictEqual(['python3', '/srv/server.py']);
      const cfg = (await docker.getImage(`localhost/berth-test/${RUN}-own:r1`).inspect()).Config;
      expect(cfg.Entrypoint).toStrictEqual(['node', '/berth/berth.mjs', 'bridge', '--port', '8080', '--host', '0.0.0.0', '--', 'python3', '/srv/server.py']);
      const run = await runImage(docker, `localhost/berth-test/${RUN}-own:r1`, labels);
      try {
        const c = await run.client();
        expect(await c.call('reverse', { text: 'own' })).toBe('nwo');
        expect(JSON.parse(await c.call('whoami'))).toMatchObject({ uid: 4321 });
        await c.close();
      } finally {
        await run.stop();
      }
    });

    it('an own image without node fails with BUILD_FAILED saying why', async () => {
      const root = source('python-stdlib', 'no-node');
      writeFileSync(join(root, 'Dockerfile'), `FROM ${BASE_IMAGE}\nRUN rm /usr/local/bin/node\nCOPY server.py /srv/server.py\nCMD ["python3", "/srv/server.py"]\n`);
      const err = await build(root, `localhost/berth-test/${RUN}-nonode:r1`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('BUILD_FAILED');
      expect((err as BerthError).message).toMatch(/has no node on its PATH/);
    });

    it('a build longer than its deadline is BUILD_FAILED naming BERTH_BUILD_TIMEOUT_S, with the log so far', async () => {
      const root = source('python-stdlib', 'slow');
      writeFileSync(join(root, 'Dockerfile'), `FROM ${BASE_IMAGE}\nRUN echo slow-step-started && sleep 20\nCMD ["python3", "server.py"]\n`);
      const logs: string[] = [];
      const err = await buildSourceImage(docker, { ...OPTS, timeoutMs: 4000 }, { root, report: detectSource(root), tag: `localhost/berth-test/${RUN}-slow:r1`, labels, log: (l) => logs.push(l), progress: () => {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('BUILD_FAILED');
      expect((err as BerthError).message).toMatch(/longer than 4 s \(BERTH_BUILD_TIMEOUT_S\)/);
      expect(logs.some((l) => l.includes('slow-step-started'))).toBe(true);
    });

    it('a failing install is BUILD_FAILED with the tail of the log', async () => {
      const root = source('node-npm', 'broken');
      writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'broken', version: '1.0.0', bin: 'server.mjs', dependencies: { words: 'file:vendor/missing-9.9.9.tgz' } }));
      rmSync(join(root, 'package-lock.json'));
      const logs: string[] = [];
      const err = await build(root, `localhost/berth-test/${RUN}-broken:r1`, logs).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('BUILD_FAILED');
      expect((err as BerthError).message).toMatch(/npm (ERR|error)/);
      expect(((err as BerthError).details as { log: string[] }).log.length).toBeGreaterThan(0);
      expect(logs.some((l) => l.includes('RUN ["npm","install"]'))).toBe(true);
    });
  });
}

/** Runs `cmd` in `ref` once (entry point replaced) and returns its stdout. */
async function runOnce(docker: NonNullable<typeof ENGINE>, ref: string, cmd: string[]): Promise<string> {
  const c = await docker.createContainer({ Image: ref, Entrypoint: cmd, Labels: labels, HostConfig: { Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }, { Name: 'nproc', Soft: 1024, Hard: 1024 }] } });
  try {
    await c.start();
    await c.wait();
    const buf = (await c.logs({ stdout: true, stderr: false })) as Buffer;
    return demux(buf);
  } finally {
    await c.remove({ force: true }).catch(() => {});
  }
}

/** The text of a multiplexed log buffer (8-byte frame headers). */
export function demux(buf: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= buf.length) {
    const len = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + len).toString('utf8');
    i += 8 + len;
  }
  return out;
}
