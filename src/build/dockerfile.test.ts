import { describe, expect, it } from 'vitest';
import type { NodePlan, PythonPlan } from './detect/types.js';
import { generateDockerfile, type DockerfileOptions } from './dockerfile.js';

const OPTS: DockerfileOptions = { images: { node: 'localhost:5000/berth/node:20', python: 'localhost:5000/berth/python:3.11' }, bridgeImage: 'localhost:5000/berth/bridge:1' };
const NODE: NodePlan = { language: 'node', packageManager: 'npm', install: ['npm', 'ci'], build: ['npm', 'run', 'build'], start: ['node', 'dist/index.js'], nodeVersion: null, typescript: true };
const PY: PythonPlan = { language: 'python', packageManager: 'uv', install: ['uv', 'sync', '--frozen', '--no-dev'], start: ['weather-mcp'], pythonVersion: null };

function lines(text: string): string[] {
  return text.split('\n');
}

describe('generateDockerfile', () => {
  it('Node: manifests before the install, the source after it, then the build; a non-root runtime stage behind the bridge', () => {
    const df = lines(generateDockerfile(NODE, new Set(['package.json', 'package-lock.json', 'src', 'tsconfig.json']), OPTS));
    const at = (l: string): number => df.indexOf(l);
    expect(at('COPY "package.json" "package-lock.json" ./')).toBeGreaterThan(-1);
    expect(at('COPY "package.json" "package-lock.json" ./')).toBeLessThan(at('RUN ["npm","ci"]'));
    expect(at('RUN ["npm","ci"]')).toBeLessThan(at('COPY . .'));
    expect(at('COPY . .')).toBeLessThan(at('RUN ["npm","run","build"]'));
    expect(df).toContain('FROM localhost:5000/berth/bridge:1 AS bridge');
    expect(df.filter((l) => l.startsWith('FROM '))).toStrictEqual(['FROM localhost:5000/berth/bridge:1 AS bridge', 'FROM localhost:5000/berth/node:20 AS build', 'FROM localhost:5000/berth/node:20']);
    expect(df).toContain('USER 10001:10001');
    expect(df).toContain('EXPOSE 8080');
    expect(df.at(-2)).toBe('ENTRYPOINT ["node","/opt/berth/bin/berth.js","bridge","--port","8080","--host","0.0.0.0","--","node","dist/index.js"]');
    // The USER line comes before the entry point: nothing of the server runs as root.
    expect(at('USER 10001:10001')).toBeLessThan(df.length - 2);
  });

  it('Python: a venv, the locked install before the source, the console script behind the bridge', () => {
    const df = lines(generateDockerfile(PY, new Set(['pyproject.toml', 'uv.lock', 'weather']), { ...OPTS, port: 9000, uid: 4242 }));
    expect(df).toContain('COPY "pyproject.toml" "uv.lock" ./');
    expect(df.indexOf('RUN ["uv","sync","--frozen","--no-dev"]')).toBeLessThan(df.indexOf('COPY . .'));
    expect(df).toContain('ENV PATH=/app/.venv/bin:$PATH');
    expect(df).toContain('USER 4242:4242');
    expect(df.at(-2)).toBe('ENTRYPOINT ["node","/opt/berth/bin/berth.js","bridge","--port","9000","--host","0.0.0.0","--","weather-mcp"]');
  });

  it('a pyproject without a lock gets its source before pip install .; arguments are quoted; root is refused', () => {
    const plan: PythonPlan = { ...PY, packageManager: 'pip', install: ['pip', 'install', '.'], start: ['python', '-m', 'my server'] };
    const df = lines(generateDockerfile(plan, new Set(['pyproject.toml']), OPTS));
    expect(df.indexOf('COPY . .')).toBeLessThan(df.indexOf('RUN ["pip","install","."]'));
    expect(df.filter((l) => l === 'COPY . .')).toHaveLength(1);
    expect(df.at(-2)).toContain('"my server"]');
    expect(() => generateDockerfile(NODE, new Set(), { ...OPTS, uid: 0 })).toThrow(/never root/);
  });
});
