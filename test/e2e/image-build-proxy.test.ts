/**
 * Builds behind a corporate proxy: BERTH_BUILD_CA_FILE is trusted by the build stage (the install sees it in
 * NODE_EXTRA_CA_CERTS and in the system bundle) and BERTH_BUILD_NPM_REGISTRY reaches the install as its registry,
 * while the final image has neither: not in its filesystem, its environment nor its history.
 *
 * With BERTH_TEST_BUILD_CA_FILE set (a CA the network's TLS-intercepting proxy signs with, e.g. the host's bundle
 * /etc/ssl/certs/ca-certificates.crt), one more test installs a real package from the npm registry through it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { detectSource } from '../../src/build/detect/index.js';
import { buildSourceImage, type ImageBuildOptions } from '../../src/build/image/index.js';
import { ROOT } from '../support/berth-process.js';
import { BASE_IMAGE, engineOrSkip, removeImages } from '../support/images.js';

const RUN = randomBytes(4).toString('hex');
const labels = { 'berth.test-run': RUN };
const work = mkdtempSync(join(tmpdir(), 'berth-image-proxy-'));
const MIRROR = 'http://127.0.0.1:9/berth-test-mirror/';

const ENGINE = await engineOrSkip('builds behind a proxy (test/e2e/image-build-proxy.test.ts)');

if (ENGINE) {
  const docker = ENGINE;
  afterAll(async () => {
    await removeImages(docker, 'berth.test-run', RUN);
    rmSync(work, { recursive: true, force: true });
  });

  /** Runs `script` with node in `ref` (entry point replaced) and returns its output. */
  async function nodeIn(ref: string, script: string): Promise<string> {
    const c = await docker.createContainer({ Image: ref, Entrypoint: ['node', '-e', script], Labels: labels, HostConfig: { Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }, { Name: 'nproc', Soft: 1024, Hard: 1024 }] } });
    try {
      await c.start();
      await c.wait();
      const buf = (await c.logs({ stdout: true, stderr: true })) as Buffer;
      let out = '';
      for (let i = 0; i + 8 <= buf.length; ) {
        const len = buf.readUInt32BE(i + 4);
        out += buf.subarray(i + 8, i + 8 + len).toString('utf8');
        i += 8 + len;
      }
      return out;
    } finally {
      await c.remove({ force: true }).catch(() => {});
    }
  }

  describe('builds behind a proxy', () => {
    it('the build CA and the npm mirror reach the install and stay out of the final image', async () => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=berth-test-ca-${RUN}`, '-days', '1', '-keyout', join(work, 'ca.key'), '-out', join(work, 'ca.pem')], { stdio: 'ignore' });
      const pem = readFileSync(join(work, 'ca.pem'), 'utf8');
      const mark = pem.split('\n')[5]!; // a line of the certificate's body, unique to it
      const root = join(work, 'src');
      cpSync(join(ROOT, 'test/fixtures/images/node-npm'), root, { recursive: true });
      // The install's own script reports what the build stage trusts and which registry it was given.
      const probe = [
        // (It must not hold the certificate itself: package.json ends up in the image, which is then searched for it.)
        "const fs = require('fs');",
        "const ca = fs.readFileSync(process.env.NODE_EXTRA_CA_CERTS, 'utf8');",
        "const extra = require('crypto').createHash('sha256').update(ca).digest('hex');",
        "const bundle = fs.readFileSync('/etc/ssl/certs/ca-certificates.crt', 'utf8').includes(ca.split('\\n')[5]);",
        "console.log('BERTH-CA-PROBE extra=' + extra + ' bundle=' + bundle + ' pip=' + process.env.PIP_CERT + ' registry=' + process.env.NPM_CONFIG_REGISTRY + ' npm=' + require('child_process').execSync('npm config get registry').toString().trim());",
      ].join(' ');
      const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(root, 'package.json'), JSON.stringify({ ...pkg, scripts: { preinstall: `node -e ${JSON.stringify(probe)}` } }, null, 2));
      const opts: ImageBuildOptions = { baseImage: BASE_IMAGE, bridgeFile: join(ROOT, 'dist/berth.mjs'), timeoutMs: 600_000, maxContextBytes: 1 << 28, caFile: join(work, 'ca.pem'), npmRegistry: MIRROR };
      const logs: string[] = [];
      const tag = `localhost/berth-test/${RUN}-ca:r1`;
      await buildSourceImage(docker, opts, { root, report: detectSource(root), tag, labels, log: (l) => logs.push(l), progress: () => {} });
      expect(logs.find((l) => l.includes('BERTH-CA-PROBE') && !l.includes('console.log'))).toBe(`BERTH-CA-PROBE extra=${createHash('sha256').update(pem).digest('hex')} bundle=true pip=/etc/ssl/certs/ca-certificates.crt registry=${MIRROR} npm=${MIRROR}`);

      // The final image: no CA file, no CA in its bundle or under /app, no build-stage environment, no trace in its history.
      const info = await docker.getImage(tag).inspect();
      const env = (info.Config.Env ?? []).join('\n');
      expect(env).not.toMatch(/NODE_EXTRA_CA_CERTS|PIP_CERT|SSL_CERT_FILE|REQUESTS_CA_BUNDLE|NPM_CONFIG_REGISTRY/);
      const history = (await docker.getImage(tag).history()) as { CreatedBy?: string }[];
      const createdBy = history.map((h) => h.CreatedBy ?? '').join('\n');
      expect(createdBy).toContain('/berth/berth.mjs'); // the history is there to be read…
      expect(createdBy).not.toMatch(/build-ca|NODE_EXTRA_CA_CERTS|berth-test-mirror|NPM_CONFIG_REGISTRY/); // …and holds none of it
      const scan = [
        "const fs = require('fs'); const path = require('path'); const mark = " + JSON.stringify(mark) + ';',
        'let found = [];',
        // As the server's user: what it cannot read (/etc/ssl/private) it cannot leak either.
        "const read = (f, p) => { try { return f(p); } catch { return null; } };",
        "const walk = (d) => { for (const e of read((x) => fs.readdirSync(x, { withFileTypes: true }), d) ?? []) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else if (e.isFile() && (read((x) => fs.readFileSync(x, 'latin1'), p) ?? '').includes(mark)) found.push(p); } };",
        "walk('/app'); walk('/etc/ssl'); walk('/usr/local/share/ca-certificates');",
        "console.log(JSON.stringify({ found, caFile: fs.existsSync('/usr/local/share/ca-certificates/berth-build-ca.crt'), extra: process.env.NODE_EXTRA_CA_CERTS ?? null }));",
      ].join(' ');
      expect(JSON.parse((await nodeIn(tag, scan)).trim())).toStrictEqual({ found: [], caFile: false, extra: null });
    });

    const realCa = process.env.BERTH_TEST_BUILD_CA_FILE;
    it.skipIf(!realCa)('with the network proxy\'s CA (BERTH_TEST_BUILD_CA_FILE), a real package installs from the npm registry', async () => {
      const root = join(work, 'real');
      cpSync(join(ROOT, 'test/fixtures/images/node-npm'), root, { recursive: true });
      rmSync(join(root, 'package-lock.json'));
      const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
      writeFileSync(join(root, 'package.json'), JSON.stringify({ ...pkg, dependencies: { ...pkg.dependencies, ms: '2.1.3' } }, null, 2));
      const opts: ImageBuildOptions = { baseImage: BASE_IMAGE, bridgeFile: join(ROOT, 'dist/berth.mjs'), timeoutMs: 600_000, maxContextBytes: 1 << 28, caFile: realCa! };
      const tag = `localhost/berth-test/${RUN}-realca:r1`;
      const logs: string[] = [];
      await buildSourceImage(docker, opts, { root, report: detectSource(root), tag, labels, log: (l) => logs.push(l), progress: () => {} });
      expect(logs.some((l) => /added \d+ packages?/.test(l))).toBe(true);
      expect((await nodeIn(tag, "console.log(require('/app/node_modules/ms')('2h'))")).trim()).toBe('7200000');
    });
  });
}
