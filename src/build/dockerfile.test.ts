import { describe, expect, it } from 'vitest';
import type { NodePlan, PythonPlan } from './detect/types.js';
import { generateDockerfile, generateWrapDockerfile, type DockerfileOptions } from './dockerfile.js';

const OPTS: DockerfileOptions = { baseImage: 'localhost/berth/base:bookworm', start: ['node', 'dist/index.js'] };
const NODE: NodePlan = { language: 'node', packageManager: 'npm', install: ['npm', 'ci'], build: ['npm', 'run', 'build'], start: ['node', 'dist/index.js'], nodeVersion: null, typescript: true };
const PY: PythonPlan = { language: 'python', packageManager: 'uv', install: ['uv', 'sync', '--frozen', '--no-dev'], start: ['weather-mcp'], pythonVersion: null };
const BRIDGE = 'COPY ["berth/berth.mjs","/berth/berth.mjs"]';

function lines(text: string): string[] {
  return text.split('\n');
}

/** The lines of the stage that starts at the n-th FROM (0-based). */
function stage(df: string[], n: number): string[] {
  const starts = df.flatMap((l, i) => (l.startsWith('FROM ') ? [i] : []));
  return df.slice(starts[n], starts[n + 1] ?? df.length);
}

describe('generateDockerfile', () => {
  it('Node: manifests before the install, the source after it, then the build and a prune; a non-root runtime stage behind the bridge', () => {
    const df = lines(generateDockerfile(NODE, new Set(['package.json', 'package-lock.json', 'src', 'tsconfig.json']), OPTS));
    const at = (l: string): number => df.indexOf(l);
    expect(at('COPY ["app/package.json","./package.json"]')).toBeGreaterThan(-1);
    expect(at('COPY ["app/package-lock.json","./package-lock.json"]')).toBeLessThan(at('RUN ["npm","ci"]'));
    expect(at('RUN ["npm","ci"]')).toBeLessThan(at('COPY ["app/","./"]'));
    expect(at('COPY ["app/","./"]')).toBeLessThan(at('RUN ["npm","run","build"]'));
    expect(at('RUN ["npm","run","build"]')).toBeLessThan(at('RUN ["npm","prune","--omit=dev"]'));
    expect(df.filter((l) => l.startsWith('FROM '))).toStrictEqual(['FROM localhost/berth/base:bookworm AS build', 'FROM localhost/berth/base:bookworm']);
    const runtime = stage(df, 1);
    expect(runtime).toContain('COPY --from=build /app /app');
    expect(runtime).toContain(BRIDGE);
    expect(runtime).toContain('USER 10001:10001');
    expect(runtime).toContain('EXPOSE 8080');
    expect(runtime).toContain('ENTRYPOINT ["node","/berth/berth.mjs","bridge","--port","8080","--host","0.0.0.0","--","node","dist/index.js"]');
    // Nothing of the server runs as root: USER comes before the entry point; the runtime stage runs nothing.
    expect(runtime.indexOf('USER 10001:10001')).toBeLessThan(runtime.findIndex((l) => l.startsWith('ENTRYPOINT')));
    expect(runtime.filter((l) => l.startsWith('RUN '))).toStrictEqual([]);
  });

  it('local file: dependencies are copied with the manifests, before the install', () => {
    const df = lines(generateDockerfile({ ...NODE, build: null, install: ['npm', 'install'] }, new Set(['package.json']), { ...OPTS, localDeps: ['vendor/words', 'vendor/ts.tgz'] }));
    expect(df.indexOf('COPY ["app/vendor/words","./vendor/words"]')).toBeLessThan(df.indexOf('RUN ["npm","install"]'));
    expect(df.indexOf('COPY ["app/vendor/ts.tgz","./vendor/ts.tgz"]')).toBeLessThan(df.indexOf('RUN ["npm","install"]'));
    expect(df).not.toContain('RUN ["npm","prune","--omit=dev"]');
  });

  it('Python: a venv, the tool, the locked install before the source, the console script behind the bridge', () => {
    const df = lines(generateDockerfile(PY, new Set(['pyproject.toml', 'uv.lock', 'weather']), { ...OPTS, start: ['weather-mcp', '--verbose'], port: 9000, uid: 4242 }));
    expect(df).toContain('COPY ["app/pyproject.toml","./pyproject.toml"]');
    expect(df).toContain('COPY ["app/uv.lock","./uv.lock"]');
    expect(df).toContain('RUN ["python3","-m","venv","/app/.venv"]');
    expect(df.indexOf('RUN ["pip","install","uv"]')).toBeLessThan(df.indexOf('RUN ["uv","sync","--frozen","--no-dev"]'));
    expect(df.indexOf('RUN ["uv","sync","--frozen","--no-dev"]')).toBeLessThan(df.indexOf('COPY ["app/","./"]'));
    const runtime = stage(df, 1);
    expect(runtime.some((l) => l.startsWith('ENV VIRTUAL_ENV=/app/.venv PATH=/app/.venv/bin:$PATH'))).toBe(true);
    expect(runtime).toContain('USER 4242:4242');
    expect(runtime).toContain('ENTRYPOINT ["node","/berth/berth.mjs","bridge","--port","9000","--host","0.0.0.0","--","weather-mcp","--verbose"]');
  });

  it('a standard-library Python server gets a venv without pip and no install step', () => {
    const plan: PythonPlan = { language: 'python', packageManager: 'pip', install: [], start: ['python', 'server.py'], pythonVersion: null };
    const df = lines(generateDockerfile(plan, new Set(['server.py']), { ...OPTS, start: plan.start }));
    expect(df).toContain('RUN ["python3","-m","venv","--without-pip","/app/.venv"]');
    expect(df.filter((l) => l.startsWith('RUN '))).toStrictEqual(['RUN ["python3","-m","venv","--without-pip","/app/.venv"]']);
  });

  it('a pyproject without a lock gets its source before pip install .; arguments are quoted; root is refused', () => {
    const plan: PythonPlan = { ...PY, packageManager: 'pip', install: ['pip', 'install', '.'], start: ['python', '-m', 'my server'] };
    const df = lines(generateDockerfile(plan, new Set(['pyproject.toml']), { ...OPTS, start: plan.start }));
    expect(df.indexOf('COPY ["app/","./"]')).toBeLessThan(df.indexOf('RUN ["pip","install","."]'));
    expect(df.filter((l) => l === 'COPY ["app/","./"]')).toHaveLength(1);
    expect(df.find((l) => l.startsWith('ENTRYPOINT'))).toContain('"my server"]');
    expect(() => generateDockerfile(NODE, new Set(), { ...OPTS, uid: 0 })).toThrow(/never root/);
    expect(() => generateDockerfile(NODE, new Set(), { ...OPTS, start: [] })).toThrow(/empty/);
  });

  it('the build CA and the mirrors are in the build stage only', () => {
    const node = lines(generateDockerfile(NODE, new Set(['package.json']), { ...OPTS, buildCa: true, mirrors: { npm: true, pip: true } }));
    const build = stage(node, 0);
    expect(build).toContain('COPY ["berth/build-ca.pem","/usr/local/share/ca-certificates/berth-build-ca.crt"]');
    expect(build.some((l) => l.startsWith('ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/berth-build-ca.crt'))).toBe(true);
    expect(build).toContain('ARG NPM_CONFIG_REGISTRY');
    expect(build).not.toContain('ARG PIP_INDEX_URL'); // a Node build has no use for the PyPI mirror
    const runtime = stage(node, 1).join('\n');
    expect(runtime).not.toMatch(/build-ca|NODE_EXTRA_CA_CERTS|PIP_CERT|ARG /);
    const py = lines(generateDockerfile(PY, new Set(['pyproject.toml']), { ...OPTS, buildCa: true, mirrors: { pip: true } }));
    expect(stage(py, 0)).toContain('ARG PIP_INDEX_URL');
    expect(stage(py, 1).join('\n')).not.toMatch(/build-ca|PIP_CERT|ARG /);
    // Without them, no trace at all.
    expect(generateDockerfile(NODE, new Set(['package.json']), OPTS)).not.toMatch(/build-ca|ARG /);
  });
});

describe('generateWrapDockerfile', () => {
  it('adds the bridge to the built image and runs its own command behind it', () => {
    const df = lines(generateWrapDockerfile('localhost/berth/x:r1-own', ['python3', '/srv/server.py', '--flag']));
    expect(df[1]).toBe('FROM localhost/berth/x:r1-own');
    expect(df).toContain('COPY ["berth.mjs","/berth/berth.mjs"]');
    expect(df.some((l) => l.startsWith('RUN ["node",'))).toBe(true);
    expect(df).toContain('ENTRYPOINT ["node","/berth/berth.mjs","bridge","--port","8080","--host","0.0.0.0","--","python3","/srv/server.py","--flag"]');
    expect(() => generateWrapDockerfile('x', [])).toThrow(/ENTRYPOINT or CMD/);
  });
});
