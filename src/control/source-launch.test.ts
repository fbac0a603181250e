import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectSource } from '../build/detect/index.js';
import { BerthError } from '../core/errors.js';
import { DeploymentSpecSchema, type Deployment, type ImageSpec, type SourceSpec } from '../core/index.js';
import { runTool, type ToolRunner } from '../packages/run.js';
import { DEFAULT_PATH } from '../runtime/process/sandbox.js';
import { createSourceStore, type SourceStore } from '../sources/index.js';
import { createSourceLaunch, imageLaunch, startCommand } from './source-launch.js';

let work = '';
let store: SourceStore;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'berth-srclaunch-'));
  store = createSourceStore({ dir: path.join(work, 'sources'), maxBytes: 1024 * 1024 });
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(work, 'tree-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

function deployment(spec: SourceSpec | ImageSpec, revision: number, serving: number | null = null): Deployment & { spec: SourceSpec | ImageSpec } {
  return { id: 'src-abc123', name: 'src', revision, serving_revision: serving, spec } as unknown as Deployment & { spec: SourceSpec | ImageSpec };
}

const lines: string[] = [];
const progress: string[] = [];
const ctx = { log: (l: string) => void lines.push(l), progress: (m: string) => void progress.push(m) };

function launcher(run: ToolRunner = runTool) {
  return createSourceLaunch({
    store,
    detect: detectSource,
    workspaces: path.join(work, 'workspaces'),
    run,
    buildTimeoutMs: 120_000,
    env: { PATH: `${path.dirname(process.execPath)}:${DEFAULT_PATH}`, HOME: path.join(work, 'home'), npm_config_cache: path.join(work, 'npm-cache'), npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
    python: 'python3',
    defaultRuntime: 'process',
  });
}

describe('source launch (process runtime)', () => {
  it('installs and builds a Node source once per revision into its workspace, and launches from there', async () => {
    const s = await store.putTree(
      tree({
        'package.json': JSON.stringify({ name: 'built', version: '1.0.0', main: 'dist/index.js', scripts: { build: 'node build.mjs' } }),
        'build.mjs': "import { mkdirSync, writeFileSync } from 'node:fs'; mkdirSync('dist', { recursive: true }); writeFileSync('dist/index.js', 'console.log(42)');",
      }),
    );
    let runs = 0;
    const counting: ToolRunner = (r) => {
      runs += 1;
      return runTool(r);
    };
    const l = launcher(counting);
    const spec = DeploymentSpecSchema.parse({ type: 'source', source: { kind: 'upload', digest: s.digest }, args: ['--x'] }) as SourceSpec;
    const out = await l.prepare(deployment(spec, 1), ctx);
    const ws = path.join(work, 'workspaces', 'src-abc123', '1');
    expect(out).toMatchObject({ command: 'node', args: ['dist/index.js', '--x'], workspace: ws });
    expect(readFileSync(path.join(ws, 'dist/index.js'), 'utf8')).toBe('console.log(42)');
    expect(existsSync(path.join(ws, 'package-lock.json'))).toBe(true);
    expect(runs).toBe(2);
    expect(progress).toStrictEqual(['installing dependencies…', 'building…']);
    // The stored tree is untouched.
    expect(existsSync(path.join(s.root, 'dist'))).toBe(false);
    // A restart (or scale from zero) reuses the workspace.
    await l.prepare(deployment(spec, 1), ctx);
    expect(runs).toBe(2);
    // Revisions 2 and 3: revision 1 goes once 3 is ready and 2 serves; removal takes them all.
    await l.prepare(deployment(spec, 2, 1), ctx);
    await l.prepare(deployment(spec, 3, 2), ctx);
    expect(readdirSync(path.join(work, 'workspaces', 'src-abc123')).sort()).toStrictEqual(['2', '2.ready', '3', '3.ready']);
    await l.removeWorkspaces('src-abc123');
    expect(existsSync(path.join(work, 'workspaces', 'src-abc123'))).toBe(false);
  }, 120_000);

  it('fails a build step with BUILD_FAILED naming it, and leaves no half-made workspace', async () => {
    const s = await store.putTree(tree({ 'package.json': JSON.stringify({ name: 'broken', version: '1.0.0', main: 'index.js', scripts: { build: 'node -e "process.exit(3)"' } }), 'index.js': '' }));
    const spec = DeploymentSpecSchema.parse({ type: 'source', source: { kind: 'upload', digest: s.digest } }) as SourceSpec;
    const err = await launcher().prepare(deployment(spec, 1), ctx).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).code).toBe('BUILD_FAILED');
    expect((err as BerthError).message).toContain('npm run build');
    expect(existsSync(path.join(work, 'workspaces', 'src-abc123', '1'))).toBe(false);
  }, 120_000);

  it('runs a standard-library Python source with the host python and no install', async () => {
    const s = await store.putTree(tree({ 'server.py': 'print("hi")' }));
    const spec = DeploymentSpecSchema.parse({ type: 'source', source: { kind: 'upload', digest: s.digest } }) as SourceSpec;
    const out = await launcher().prepare(deployment(spec, 1), ctx);
    expect(out.command).toBe('python3');
    expect(out.args).toStrictEqual(['server.py']);
  });

  it('refuses a source on the container runtime without image builds, and maps an image spec as it is', async () => {
    const s = await store.putTree(tree({ 'server.py': 'print("hi")' }));
    const spec = DeploymentSpecSchema.parse({ type: 'source', source: { kind: 'upload', digest: s.digest }, runtime: 'container' }) as SourceSpec;
    const err = await launcher().prepare(deployment(spec, 1), ctx).then(() => null, (e: unknown) => e);
    expect((err as BerthError).code).toBe('RUNTIME_UNAVAILABLE');
    const image = DeploymentSpecSchema.parse({ type: 'image', image: 'localhost/x:1', transport: 'http', port: 9000 }) as ImageSpec;
    expect(imageLaunch(image)).toStrictEqual({ command: '', args: [], env: {}, internalMounts: [], image: { ref: 'localhost/x:1', serves: 'http', port: 9000, path: '/mcp' } });
  });

  it('start commands: npm scripts quiet, python from the venv when there is one', () => {
    expect(startCommand(['npm', 'run', 'start'], '/w', 'python3')).toStrictEqual(['npm', 'run', '--silent', 'start']);
    expect(startCommand(['python', '-m', 'pkg'], '/nonexistent', 'python3')).toStrictEqual(['python3', '-m', 'pkg']);
    expect(startCommand(null, '/w', 'python3')).toBeNull();
  });
});
