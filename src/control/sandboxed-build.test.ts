import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectSource } from '../build/detect/index.js';
import { BerthError } from '../core/errors.js';
import type { Deployment, SourceSpec } from '../core/index.js';
import { runTool } from '../packages/run.js';
import { ProcessRuntime } from '../runtime/process/index.js';
import { DEFAULT_PATH, resolveCommand } from '../runtime/process/sandbox.js';
import { createSourceStore, type SourceStore } from '../sources/index.js';
import { MemoryLogStore } from '../telemetry/memory-logs.js';
import { createSandboxedBuild } from './sandboxed-build.js';
import { createSourceLaunch } from './source-launch.js';

const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HAS_BWRAP = resolveCommand('bwrap', HOST_PATH, '/') !== null && resolveCommand('slirp4netns', HOST_PATH, '/') !== null;
const NPM_ENV = { PATH: `${path.dirname(process.execPath)}:${DEFAULT_PATH}`, LANG: 'C.UTF-8', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

/**
 * The hostile install: a package.json `postinstall` that tries every way out and writes what happened to probe.json
 * in its working folder (the workspace, the one place it may write).
 */
const PROBE = `
const fs = require('fs'); const net = require('net'); const path = require('path');
const t = JSON.parse(fs.readFileSync('targets.json', 'utf8'));
const r = { cwd: process.cwd(), home: process.env.HOME, writes: {}, reads: {} };
const tryWrite = (k, p) => { try { fs.mkdirSync(path.dirname(p), { recursive: true }); fs.writeFileSync(p, 'escaped'); r.writes[k] = 'ok'; } catch (e) { r.writes[k] = e.code || String(e); } };
const tryRead = (k, p) => { try { r.reads[k] = 'read:' + fs.readFileSync(p, 'utf8').slice(0, 40); } catch (e) { r.reads[k] = e.code || String(e); } };
tryWrite('workspace', path.join(process.cwd(), 'inside.txt'));
tryWrite('dataDir', path.join(t.dataDir, 'escaped.txt'));
tryWrite('hostTmp', t.hostTmp);
tryWrite('store', path.join(t.storeRoot, 'escaped.txt'));
tryRead('key', t.keyFile);
tryRead('db', t.dbFile);
tryRead('store', path.join(t.storeRoot, 'package.json'));
const s = net.connect({ host: '127.0.0.1', port: t.port });
const done = (v) => { r.loopback = v; fs.writeFileSync('probe.json', JSON.stringify(r)); process.exit(0); };
s.setTimeout(5000, () => { s.destroy(); done('timeout'); });
s.on('data', (d) => done('reached:' + d));
s.on('error', (e) => done(e.code || String(e)));
`;

function spec(): SourceSpec {
  return { type: 'source', source: { kind: 'upload', digest: '' }, args: [], env: {} } as unknown as SourceSpec;
}

describe.runIf(HAS_BWRAP)('source installs run inside the process sandbox (bubblewrap, network egress even for a network-none server)', () => {
  let dataDir = '';
  let store: SourceStore;
  let runtime: ProcessRuntime;
  let logs: MemoryLogStore;
  let greeter: Server;
  let port = 0;
  const hostTmp = path.join(os.tmpdir(), `berth-sbx-escape-${randomBytes(4).toString('hex')}`);

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'berth-sbx-build-'));
    writeFileSync(path.join(dataDir, 'master.key'), 'TOP-SECRET-KEY');
    writeFileSync(path.join(dataDir, 'berth.db'), 'DATABASE-ROWS');
    store = createSourceStore({ dir: path.join(dataDir, 'sources'), maxBytes: 1024 * 1024 });
    logs = new MemoryLogStore();
    runtime = new ProcessRuntime({
      dataDir,
      logs,
      sandbox: 'bubblewrap',
      stopGraceMs: 500,
      forbiddenPaths: [path.join(dataDir, 'master.key'), path.join(dataDir, 'berth.db')],
      internalRoots: [path.join(dataDir, 'workspaces')],
    });
    greeter = createServer((s) => s.end('berth-internal')).listen(0, '127.0.0.1');
    await new Promise((r) => greeter.once('listening', r));
    port = (greeter.address() as { port: number }).port;
  });
  afterEach(async () => {
    await runtime.stopAll(200);
    await new Promise((r) => greeter.close(r));
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(hostTmp, { force: true });
  });

  const launcher = (buildTimeoutMs = 120_000) =>
    createSourceLaunch({
      store,
      detect: detectSource,
      workspaces: path.join(dataDir, 'workspaces'),
      build: createSandboxedBuild({ launcher: runtime, env: NPM_ENV }),
      run: () => Promise.reject(new Error('the unsandboxed runner must not be used when there is a sandbox')),
      buildTimeoutMs,
      env: {},
      python: 'python3',
      defaultRuntime: 'process',
    });

  async function stored(files: Record<string, string>) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-sbx-tree-'));
    try {
      for (const [rel, text] of Object.entries(files)) writeFileSync(path.join(dir, rel), text);
      return await store.putTree(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('a postinstall script writes only its workspace: the data dir, the host /tmp, the source store, the key file, the database and the host loopback are out of reach', async () => {
    const s0 = await stored({ 'package.json': '{}' });
    const targets = { dataDir, hostTmp, storeRoot: s0.root, keyFile: path.join(dataDir, 'master.key'), dbFile: path.join(dataDir, 'berth.db'), port };
    const s = await stored({
      'package.json': JSON.stringify({ name: 'hostile', version: '1.0.0', main: 'index.js', scripts: { postinstall: 'node probe.cjs' } }),
      'probe.cjs': PROBE,
      'index.js': 'console.log(1)',
      'targets.json': JSON.stringify(targets),
    });
    // The server would get no network at all; its install still gets egress (the registry), nothing more.
    const sp = { ...spec(), network: 'none' } as SourceSpec;
    sp.source = { kind: 'upload', digest: s.digest } as SourceSpec['source'];
    const lines: string[] = [];
    const d = { id: 'hostile1', revision: 1, serving_revision: null, spec: sp } as unknown as Deployment & { spec: SourceSpec };
    const launch = await launcher().prepare(d, { log: (l) => void lines.push(l), progress: () => {} });
    const ws = path.join(dataDir, 'workspaces', 'hostile1', '1');
    expect(launch.workspace).toBe(ws);
    const probe = JSON.parse(readFileSync(path.join(ws, 'probe.json'), 'utf8')) as { cwd: string; home: string; writes: Record<string, string>; reads: Record<string, string>; loopback: string };
    // Inside the workspace: allowed, and it lands on the host.
    expect(probe.cwd).toBe(ws);
    expect(probe.writes.workspace).toBe('ok');
    expect(readFileSync(path.join(ws, 'inside.txt'), 'utf8')).toBe('escaped');
    // HOME (npm's cache) is Berth's per-deployment folder, never the user's.
    expect(probe.home).toBe(path.join(dataDir, 'work', 'hostile1', 'home'));
    // Nothing outside reaches the host (a write may "succeed" into the sandbox's own tmpfs, which is thrown away).
    expect(existsSync(path.join(dataDir, 'escaped.txt'))).toBe(false);
    expect(existsSync(hostTmp)).toBe(false);
    expect(existsSync(path.join(s0.root, 'escaped.txt'))).toBe(false);
    // Berth's secrets and the source store are not even visible.
    expect(probe.reads.key).not.toMatch(/^read:/);
    expect(probe.reads.db).not.toMatch(/^read:/);
    expect(probe.reads.store).not.toMatch(/^read:/);
    // The host's loopback (Berth, other servers) is not reachable under egress.
    expect(probe.loopback).not.toMatch(/^reached/);
    expect(lines.join('\n')).not.toMatch(/WITHOUT a sandbox/);
    // The runtime logged the step as a sandboxed launch.
    const sys = (await logs.read('hostile1', { tail: 200 })).map((l) => l.line).join('\n');
    expect(sys).toMatch(/\[build-r1\] started pid \d+ \(sandbox bubblewrap, network egress/);
  }, 120_000);

  /** What preparing deployment `id` throws, for a source whose build script is `build` (null when it did not throw). */
  async function failedPrepare(id: string, build: string, buildTimeoutMs?: number): Promise<unknown> {
    const s = await stored({ 'package.json': JSON.stringify({ name: id, version: '1.0.0', main: 'index.js', scripts: { build } }), 'index.js': 'console.log(1)' });
    const sp = spec();
    sp.source = { kind: 'upload', digest: s.digest } as SourceSpec['source'];
    const d = { id, revision: 1, serving_revision: null, spec: sp } as unknown as Deployment & { spec: SourceSpec };
    return launcher(buildTimeoutMs)
      .prepare(d, { log: () => {}, progress: () => {} })
      .then(() => null, (e: unknown) => e);
  }

  it('a failing build is BUILD_FAILED with the tail of its output, and leaves no workspace behind', async () => {
    const err = await failedPrepare('broken1', `node -e "console.error('kaboom-in-build'); process.exit(3)"`);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('BUILD_FAILED');
    expect((err as BerthError).message).toMatch(/kaboom-in-build/);
    expect(existsSync(path.join(dataDir, 'workspaces', 'broken1', '1'))).toBe(false);
  }, 120_000);

  it('a build that outlives BERTH_BUILD_TIMEOUT_S is stopped and fails with BUILD_FAILED', async () => {
    const err = await failedPrepare('slow1', 'node -e "setTimeout(() => {}, 120000)"', 8000);
    expect((err as BerthError).code).toBe('BUILD_FAILED');
    expect((err as BerthError).message).toMatch(/took longer than 8 s/);
    expect((await runtime.found()).filter((f) => f.deploymentId === 'slow1')).toHaveLength(0);
  }, 120_000);
});

describe('installs without a sandbox', () => {
  let work = '';
  beforeEach(() => {
    work = mkdtempSync(path.join(os.tmpdir(), 'berth-nosbx-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('fall back to the clean-environment child and say so once in the log', async () => {
    const store = createSourceStore({ dir: path.join(work, 'sources'), maxBytes: 1024 * 1024 });
    const dir = path.join(work, 'tree');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'plain', version: '1.0.0', main: 'index.js', scripts: { build: 'node -e "1"' } }));
    writeFileSync(path.join(dir, 'index.js'), '');
    const s = await store.putTree(dir);
    // The server would get no network at all; its install still gets egress (the registry), nothing more.
    const sp = { ...spec(), network: 'none' } as SourceSpec;
    sp.source = { kind: 'upload', digest: s.digest } as SourceSpec['source'];
    const lines: string[] = [];
    const sl = createSourceLaunch({
      store,
      detect: detectSource,
      workspaces: path.join(work, 'workspaces'),
      run: runTool,
      noSandboxReason: 'BERTH_SANDBOX=none',
      buildTimeoutMs: 120_000,
      env: { ...NPM_ENV, HOME: path.join(work, 'home'), npm_config_cache: path.join(work, 'npm-cache'), npm_config_offline: 'true' },
      python: 'python3',
      defaultRuntime: 'process',
    });
    await sl.prepare({ id: 'plain1', revision: 1, serving_revision: null, spec: sp } as unknown as Deployment & { spec: SourceSpec }, { log: (l) => void lines.push(l), progress: () => {} });
    expect(lines.filter((l) => /installing WITHOUT a sandbox \(BERTH_SANDBOX=none\)/.test(l))).toHaveLength(1);
  }, 120_000);
});

if (!HAS_BWRAP) {
  if (process.env.CI === 'true') {
    it('needs bubblewrap and slirp4netns in CI', () => {
      throw new Error('bwrap or slirp4netns is not installed: install the Debian/Ubuntu packages "bubblewrap" and "slirp4netns" in CI');
    });
  } else {
    console.warn('SKIPPED: sandboxed source installs need bwrap and slirp4netns, which are not installed');
  }
}
