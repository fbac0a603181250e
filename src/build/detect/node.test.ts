import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectNode } from './node.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A source folder with these files (objects are written as JSON). */
function project(files: Record<string, string | object>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-detect-'));
  roots.push(root);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return root;
}

const SDK = { dependencies: { '@modelcontextprotocol/sdk': '^1.0.0' } };

describe('detectNode', () => {
  it('is not a Node.js project without package.json', () => {
    expect(detectNode(project({ 'server.py': '' }))).toBeNull();
  });

  it('npm with a lockfile: npm ci, the build script, the bin named after the package, engines.node', () => {
    const r = detectNode(project({ 'package.json': { name: '@acme/weather', bin: { weather: 'dist/index.js', other: 'dist/x.js' }, scripts: { build: 'tsc' }, engines: { node: '>=20' }, ...SDK }, 'package-lock.json': '{}', 'tsconfig.json': '{}' }))!;
    expect(r.problems).toStrictEqual([]);
    expect(r.plan).toStrictEqual({ language: 'node', packageManager: 'npm', install: ['npm', 'ci'], build: ['npm', 'run', 'build'], start: ['node', 'dist/index.js'], nodeVersion: '>=20', typescript: true });
    expect(r.findings).toContainEqual({ what: 'start', value: 'node dist/index.js', from: 'package.json bin' });
    expect(r.findings).toContainEqual({ what: 'install', value: 'npm ci', from: 'package-lock.json' });
    expect(r.findings).toContainEqual({ what: 'MCP SDK', value: '@modelcontextprotocol/sdk ^1.0.0', from: 'package.json dependencies' });
    expect(r.warnings).toStrictEqual([]);
  });

  it.each([
    [{ 'pnpm-lock.yaml': '' }, {}, 'pnpm', ['pnpm', 'install', '--frozen-lockfile']],
    [{ 'bun.lockb': '' }, {}, 'bun', ['bun', 'install', '--frozen-lockfile']],
    [{ 'yarn.lock': '' }, {}, 'yarn-classic', ['yarn', 'install', '--frozen-lockfile']],
    [{ 'yarn.lock': '', '.yarnrc.yml': '' }, {}, 'yarn-berry', ['yarn', 'install', '--immutable']],
    [{}, {}, 'npm', ['npm', 'install']],
    [{ 'package-lock.json': '{}' }, { packageManager: 'pnpm@9.1.0' }, 'pnpm', ['pnpm', 'install']],
    [{ 'yarn.lock': '' }, { packageManager: 'yarn@4.2.1' }, 'yarn-berry', ['yarn', 'install', '--immutable']],
  ])('package manager from %j and %j: %s', (files, extra, manager, install) => {
    const r = detectNode(project({ 'package.json': { name: 'x', main: 'index.js', ...SDK, ...extra }, ...files }))!;
    expect(r.plan?.packageManager).toBe(manager);
    expect(r.plan?.install).toStrictEqual(install);
  });

  it('start: bin, then the start script, then main, then index.js or index.ts', () => {
    expect(detectNode(project({ 'package.json': { name: 'a', bin: 'cli.js', scripts: { start: 'node s.js' }, main: 'm.js', ...SDK } }))!.plan?.start).toStrictEqual(['node', 'cli.js']);
    expect(detectNode(project({ 'package.json': { name: 'a', scripts: { start: 'node s.js' }, main: 'm.js', ...SDK }, 'yarn.lock': '' }))!.plan?.start).toStrictEqual(['yarn', 'run', 'start']);
    expect(detectNode(project({ 'package.json': { name: 'a', main: 'm.js', ...SDK } }))!.plan?.start).toStrictEqual(['node', 'm.js']);
    expect(detectNode(project({ 'package.json': { name: 'a', ...SDK }, 'index.js': '' }))!.plan?.start).toStrictEqual(['node', 'index.js']);
    expect(detectNode(project({ 'package.json': { name: 'a', ...SDK }, 'index.ts': '' }))!.plan?.start).toStrictEqual(['node', '--experimental-strip-types', 'index.ts']);
  });

  it('reports what stops a build with a code and the fix, before any build starts', () => {
    const none = detectNode(project({ 'package.json': { name: 'a', ...SDK } }))!;
    expect(none.plan).toBeNull();
    expect(none.problems).toMatchObject([{ code: 'NO_START_COMMAND', fix: expect.stringContaining('"bin"') }]);
    const bad = detectNode(project({ 'package.json': '{ nope' }))!;
    expect(bad.problems).toMatchObject([{ code: 'PACKAGE_JSON_INVALID' }]);
    expect(bad.plan).toBeNull();
  });

  it('warns of a missing MCP SDK, several lockfiles and TypeScript without a build; takes .nvmrc', () => {
    const r = detectNode(project({ 'package.json': { name: 'a', main: 'src/index.ts' }, 'tsconfig.json': '{}', 'yarn.lock': '', 'package-lock.json': '{}', '.nvmrc': 'v22.3.0\n' }))!;
    expect(r.warnings.map((w) => w.code).sort()).toStrictEqual(['LOCKFILE_CONFLICT', 'NO_MCP_SDK', 'TYPESCRIPT_NOT_BUILT']);
    expect(r.plan?.nodeVersion).toBe('22.3.0');
    expect(r.findings).toContainEqual({ what: 'Node.js', value: '22.3.0', from: '.nvmrc' });
  });
});
