import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectPython } from './python.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-detect-py-'));
  roots.push(root);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), content);
  }
  return root;
}

const PYPROJECT = `[project]
name = "weather-mcp"
requires-python = ">=3.11"
dependencies = ["mcp[cli]>=1.2", "httpx"]

[project.scripts]
other-tool = "weather:other"
weather-mcp = "weather:main"
`;

describe('detectPython', () => {
  it('is not a Python project without pyproject.toml, requirements.txt or setup.py', () => {
    expect(detectPython(project({ 'index.js': '' }))).toBeNull();
  });

  it('uv with its lock: uv sync, the console script named after the project, requires-python, the mcp dependency', () => {
    const r = detectPython(project({ 'pyproject.toml': PYPROJECT, 'uv.lock': '' }))!;
    expect(r.problems).toStrictEqual([]);
    expect(r.warnings).toStrictEqual([]);
    expect(r.plan).toStrictEqual({ language: 'python', packageManager: 'uv', install: ['uv', 'sync', '--frozen', '--no-dev'], start: ['weather-mcp'], pythonVersion: '>=3.11' });
    expect(r.findings).toContainEqual({ what: 'start', value: 'weather-mcp (weather:main)', from: 'pyproject.toml [project.scripts]' });
    expect(r.findings).toContainEqual({ what: 'MCP SDK', value: 'mcp', from: 'pyproject.toml' });
  });

  it.each([
    [{ 'poetry.lock': '' }, 'poetry', ['poetry', 'install', '--only', 'main']],
    [{ 'pdm.lock': '' }, 'pdm', ['pdm', 'install', '--prod', '--frozen-lockfile']],
    [{}, 'pip', ['pip', 'install', '.']],
    [{ 'requirements.txt': 'mcp\n' }, 'pip', ['pip', 'install', '-r', 'requirements.txt']],
  ])('installs with %j as %s', (files, manager, install) => {
    const r = detectPython(project({ 'pyproject.toml': PYPROJECT, ...files }))!;
    expect(r.plan?.packageManager).toBe(manager);
    expect(r.plan?.install).toStrictEqual(install);
  });

  it('start: python -m PACKAGE (top level or src/), then server.py; requirements.txt alone; .python-version', () => {
    const m = detectPython(project({ 'requirements.txt': 'fastmcp==2.0\n# comment\n-e .\n', 'src/weather/__main__.py': '', '.python-version': '3.12\n' }))!;
    expect(m.plan).toStrictEqual({ language: 'python', packageManager: 'pip', install: ['pip', 'install', '-r', 'requirements.txt'], start: ['python', '-m', 'weather'], pythonVersion: '3.12' });
    expect(m.findings).toContainEqual({ what: 'MCP SDK', value: 'fastmcp', from: 'requirements.txt' });
    const s = detectPython(project({ 'requirements.txt': 'mcp\n', 'server.py': '' }))!;
    expect(s.plan?.start).toStrictEqual(['python', 'server.py']);
  });

  it('reports what stops a build, and warns when no MCP library is a dependency', () => {
    const none = detectPython(project({ 'requirements.txt': 'httpx\n' }))!;
    expect(none.plan).toBeNull();
    expect(none.problems).toMatchObject([{ code: 'NO_START_COMMAND', fix: expect.stringContaining('[project.scripts]') }]);
    expect(none.warnings).toMatchObject([{ code: 'NO_MCP_SDK' }]);
    const bad = detectPython(project({ 'pyproject.toml': '[project\nname = ' }))!;
    expect(bad.problems).toMatchObject([{ code: 'PYPROJECT_INVALID' }]);
  });
});
