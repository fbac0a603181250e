/**
 * Python source detection: requirements.txt → pip; pyproject.toml with uv.lock / poetry.lock / pdm.lock → that
 * tool; a pyproject without a lock → `pip install .`. The start command comes from `[project.scripts]` (which
 * the usual builders do not read), then `python -m PACKAGE`, then server.py / main.py.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'smol-toml';
import type { DetectReport, Finding, Problem, PythonPlan } from './types.js';

const MCP_LIBS = ['mcp', 'fastmcp'];

interface Pyproject {
  project?: { name?: unknown; scripts?: Record<string, unknown>; dependencies?: unknown; 'requires-python'?: unknown };
  tool?: { poetry?: { name?: unknown; scripts?: Record<string, unknown>; dependencies?: Record<string, unknown> } };
}

/** Detects how to install and start the Python project at `root`; null when it has none of Python's project files. */
export function detectPython(root: string, hint: { start?: string[] | null } = {}): DetectReport<PythonPlan> | null {
  const has = (f: string): boolean => existsSync(path.join(root, f));
  const manifest = has('pyproject.toml') || has('requirements.txt') || has('setup.py');
  // A standard-library server (a lone server.py, main.py, app.py or package with __main__.py) needs no install.
  if (!manifest && !['server.py', 'main.py', 'app.py'].some(has) && !mainPackage(root)) return null;
  const findings: Finding[] = [];
  const warnings: Problem[] = [];
  const problems: Problem[] = [];
  let py: Pyproject = {};
  if (has('pyproject.toml')) {
    try {
      py = parse(readFileSync(path.join(root, 'pyproject.toml'), 'utf8')) as Pyproject;
    } catch (err) {
      problems.push({ code: 'PYPROJECT_INVALID', message: `pyproject.toml is not valid TOML: ${(err as Error).message.split('\n')[0]}`, fix: 'fix pyproject.toml (python -c "import tomllib; tomllib.load(open(\'pyproject.toml\',\'rb\'))" shows where)' });
      return { plan: null, findings, warnings, problems };
    }
  }

  const { manager, install, from } = manifest ? installPlan(has) : { manager: 'pip' as const, install: [], from: 'default (no requirements.txt, pyproject.toml or setup.py: standard library only)' };
  findings.push({ what: 'package manager', value: manager, from }, { what: 'install', value: install.length > 0 ? install.join(' ') : 'nothing to install', from });

  const start = hint.start ?? startCommand(py, root, has, findings);
  if (!start) {
    problems.push({
      code: 'NO_START_COMMAND',
      message: 'No way to start the server: no [project.scripts], no package with __main__.py, and no server.py or main.py',
      fix: 'add a console script under [project.scripts] in pyproject.toml (e.g. my-server = "my_server:main")',
    });
  }

  const deps = dependencyNames(py, root, has);
  const lib = MCP_LIBS.find((d) => deps.has(d));
  if (lib) findings.push({ what: 'MCP SDK', value: lib, from: has('requirements.txt') && !py.project ? 'requirements.txt' : 'pyproject.toml' });
  else warnings.push({ code: 'NO_MCP_SDK', message: 'No MCP library (mcp, fastmcp) among the dependencies: is this an MCP server?', fix: 'depend on mcp (the official Python SDK) or fastmcp' });

  const pythonVersion = versionOf(py, root, findings);
  const plan: PythonPlan | null = start ? { language: 'python', packageManager: manager, install, start, pythonVersion } : null;
  return { plan, findings, warnings, problems };
}

function installPlan(has: (f: string) => boolean): { manager: PythonPlan['packageManager']; install: string[]; from: string } {
  if (has('pyproject.toml')) {
    if (has('uv.lock')) return { manager: 'uv', install: ['uv', 'sync', '--frozen', '--no-dev'], from: 'uv.lock' };
    if (has('poetry.lock')) return { manager: 'poetry', install: ['poetry', 'install', '--only', 'main'], from: 'poetry.lock' };
    if (has('pdm.lock')) return { manager: 'pdm', install: ['pdm', 'install', '--prod', '--frozen-lockfile'], from: 'pdm.lock' };
  }
  if (has('requirements.txt')) return { manager: 'pip', install: ['pip', 'install', '-r', 'requirements.txt'], from: 'requirements.txt' };
  return { manager: 'pip', install: ['pip', 'install', '.'], from: has('pyproject.toml') ? 'pyproject.toml' : 'setup.py' };
}

function startCommand(py: Pyproject, root: string, has: (f: string) => boolean, findings: Finding[]): string[] | null {
  const scripts = { ...py.tool?.poetry?.scripts, ...py.project?.scripts };
  const names = Object.keys(scripts).filter((k) => typeof scripts[k] === 'string');
  if (names.length > 0) {
    const projectName = String(py.project?.name ?? py.tool?.poetry?.name ?? '');
    const pick = names.find((n) => n === projectName) ?? names[0]!;
    findings.push({ what: 'start', value: `${pick} (${String(scripts[pick])})`, from: py.project?.scripts ? 'pyproject.toml [project.scripts]' : 'pyproject.toml [tool.poetry.scripts]' });
    return [pick];
  }
  const pkg = mainPackage(root);
  if (pkg) {
    findings.push({ what: 'start', value: `python -m ${pkg.module}`, from: pkg.file });
    return ['python', '-m', pkg.module];
  }
  for (const f of ['server.py', 'main.py', 'app.py']) {
    if (!has(f)) continue;
    findings.push({ what: 'start', value: `python ${f}`, from: f });
    return ['python', f];
  }
  return null;
}

/** A package (top level or under src/) with a __main__.py. */
function mainPackage(root: string): { module: string; file: string } | null {
  for (const base of ['', 'src']) {
    const dir = path.join(root, base);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(entry.name)) continue;
      if (existsSync(path.join(dir, entry.name, '__main__.py'))) return { module: entry.name, file: path.posix.join(base, entry.name, '__main__.py') };
    }
  }
  return null;
}

/** Lower-case distribution names from [project.dependencies], Poetry's dependencies, or requirements.txt. */
function dependencyNames(py: Pyproject, root: string, has: (f: string) => boolean): Set<string> {
  const specs: string[] = [];
  if (Array.isArray(py.project?.dependencies)) specs.push(...py.project.dependencies.filter((d): d is string => typeof d === 'string'));
  if (py.tool?.poetry?.dependencies) specs.push(...Object.keys(py.tool.poetry.dependencies));
  if (has('requirements.txt')) specs.push(...readFileSync(path.join(root, 'requirements.txt'), 'utf8').split('\n'));
  const names = specs.map((s) => s.trim()).filter((s) => s && !s.startsWith('#') && !s.startsWith('-'));
  return new Set(names.map((s) => (/^[A-Za-z0-9][A-Za-z0-9._-]*/.exec(s)?.[0] ?? '').toLowerCase().replace(/_/g, '-')));
}

function versionOf(py: Pyproject, root: string, findings: Finding[]): string | null {
  const req = py.project?.['requires-python'];
  if (typeof req === 'string') {
    findings.push({ what: 'Python', value: req, from: 'pyproject.toml requires-python' });
    return req;
  }
  const file = path.join(root, '.python-version');
  if (existsSync(file)) {
    const v = readFileSync(file, 'utf8').trim();
    if (v) {
      findings.push({ what: 'Python', value: v, from: '.python-version' });
      return v;
    }
  }
  return null;
}
