import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { buildCreateInput, parseRuntime, collectEnv, collectHeader, collectMount, deriveName, packageFromCommand, parseNetwork, positiveNumber } from './deploy-args.js';

describe('deriveName', () => {
  it.each([
    [['npx', '-y', '@modelcontextprotocol/server-everything'], 'everything'],
    [['npx', '-y', '@modelcontextprotocol/server-filesystem@1.2.3', '/data'], 'filesystem'],
    [['uvx', 'mcp-server-fetch'], 'fetch'],
    [['uvx', '--from', 'mcp-server-git==1.0', 'mcp-server-git'], 'git'],
    [['npx', '-p', '@acme/mcp-server-weather', 'weather-cli'], 'weather'],
    [['pnpm', 'dlx', 'server-memory'], 'memory'],
    [['python', '-m', 'my_server'], 'my_server'],
    [['node', './weather/build/index.js'], 'weather'],
    [['node', 'tools.mjs'], 'tools'],
    [['/usr/local/bin/my-mcp'], 'my-mcp'],
  ])('%j → %s', (line, name) => {
    const [command, ...args] = line as [string, ...string[]];
    expect(deriveName(command, args)).toBe(name);
  });
});

describe('collectors', () => {
  it('collects KEY=VALUE pairs and rejects malformed ones', () => {
    expect(collectEnv('B=2=3', collectEnv('A=1'))).toEqual({ A: '1', B: '2=3' });
    for (const bad of ['FOO', '=x', '1A=x', 'A-B=x']) expect(() => collectEnv(bad)).toThrow(InvalidArgumentError);
  });
  it('collects headers and rejects ones without a name', () => {
    expect(collectHeader('X-Key:  v: w ')).toEqual({ 'X-Key': 'v: w' });
    expect(() => collectHeader('no colon')).toThrow(InvalidArgumentError);
  });
  it('collects mounts: read-only unless :rw, relative paths resolved where typed', () => {
    expect(collectMount('/srv/b:rw', collectMount('/srv/a'))).toEqual([
      { path: '/srv/a', mode: 'ro' },
      { path: '/srv/b', mode: 'rw' },
    ]);
    expect(collectMount('/srv/c:ro')).toEqual([{ path: '/srv/c', mode: 'ro' }]);
    expect(collectMount('data/x:y')).toEqual([{ path: path.resolve('data/x:y'), mode: 'ro' }]);
    for (const bad of ['', ':rw']) expect(() => collectMount(bad)).toThrow(InvalidArgumentError);
  });
  it('checks --network and the limit flags', () => {
    expect(parseNetwork('none')).toBe('none');
    expect(() => parseNetwork('bridge')).toThrow(/egress, none, host/);
    expect(positiveNumber(false)('0.5')).toBe(0.5);
    for (const bad of ['0', '-1', 'x', '']) expect(() => positiveNumber(false)(bad)).toThrow(InvalidArgumentError);
    expect(() => positiveNumber(true)('1.5')).toThrow(/whole number/);
  });
});

describe('buildCreateInput', () => {
  it('refuses to mix a command with --url, and url-only options with a command', () => {
    expect(() => buildCreateInput({ start: true, url: 'https://x/mcp' }, ['npx'])).toThrow(/not both/);
    expect(() => buildCreateInput({ start: true, url: 'https://x/mcp', env: { A: '1' } }, [])).toThrow(/--env/);
    expect(() => buildCreateInput({ start: true, header: { A: '1' } }, ['npx'])).toThrow(/--header/);
    expect(() => buildCreateInput({ start: true, url: 'https://x/mcp', mount: [{ path: '/a', mode: 'ro' }] }, [])).toThrow(/--mount/);
    expect(() => buildCreateInput({ start: true, url: 'https://x/mcp', memory: 256 }, [])).toThrow(/--memory/);
  });
  it('puts mounts, network and limits into the process spec', () => {
    const input = buildCreateInput({ start: true, mount: [{ path: '/data', mode: 'rw' }], network: 'none', memory: 256, cpus: 0.5 }, ['node', 'x.js']);
    expect(input.spec).toMatchObject({ mounts: [{ path: '/data', mode: 'rw' }], network: 'none', limits: { memory_mb: 256, cpus: 0.5 } });
    expect(input.spec).not.toHaveProperty('limits.pids');
  });
  it('deploys image:REF as a stdio image (its own command, or the one after --) or, with --port, an http image', () => {
    const own = buildCreateInput({ start: true }, ['image:localhost/berth/tools:1.0']);
    expect(own).toMatchObject({ name: 'tools', spec: { type: 'image', image: 'localhost/berth/tools:1.0', transport: 'stdio', args: [] } });
    expect(own.spec).not.toHaveProperty('command');
    const cmd = buildCreateInput({ start: true, memory: 128 }, ['image:localhost/x:2', 'node', '/app/s.js', '--v']);
    expect(cmd.spec).toMatchObject({ type: 'image', command: ['node', '/app/s.js', '--v'], limits: { memory_mb: 128 } });
    const http = buildCreateInput({ start: true, port: 3000, path: '/rpc' }, ['image:localhost/web:1']);
    expect(http.spec).toMatchObject({ type: 'image', transport: 'http', port: 3000, path: '/rpc' });
    expect(() => buildCreateInput({ start: true, path: '/rpc' }, ['image:localhost/web:1'])).toThrow(/--path needs --port/);
    expect(() => buildCreateInput({ start: true, runtime: 'process' }, ['image:localhost/web:1'])).toThrow(/container runtime/);
    expect(() => buildCreateInput({ start: true }, ['image:Not A Ref'])).toThrow(/image reference/);
    expect(() => buildCreateInput({ start: true, port: 80 }, ['node', 'x.js'])).toThrow(/--port and --path apply to image/);
  });
  it('--runtime puts spec.runtime on a command, and is refused for --url', () => {
    expect(buildCreateInput({ start: true, runtime: 'container' }, ['node', 'x.js']).spec).toMatchObject({ type: 'process', runtime: 'container' });
    expect(() => buildCreateInput({ start: true, url: 'https://x/mcp', runtime: 'container' }, [])).toThrow(/--runtime/);
    expect(() => parseRuntime('docker')).toThrow(/process or container/);
  });
});

describe('packageFromCommand', () => {
  it.each([
    [['npx', '-y', '@modelcontextprotocol/server-everything'], { registry: 'npm', name: '@modelcontextprotocol/server-everything', args: [] }],
    [['npx', '--yes', '@scope/pkg@1.2.3', '/data', '--flag'], { registry: 'npm', name: '@scope/pkg', version: '1.2.3', args: ['/data', '--flag'] }],
    [['/usr/bin/npx', 'pkg@^2', '--', '-x'], { registry: 'npm', name: 'pkg', version: '^2', args: ['-x'] }],
    [['npx', 'pkg@latest'], { registry: 'npm', name: 'pkg', args: [] }],
    [['uvx', 'mcp-server-fetch'], { registry: 'pypi', name: 'mcp-server-fetch', args: [] }],
    [['uvx', 'mcp-server-git==1.0', '--repository', '/r'], { registry: 'pypi', name: 'mcp-server-git', version: '1.0', args: ['--repository', '/r'] }],
    [['uvx', 'mcp-server-git@1.0'], { registry: 'pypi', name: 'mcp-server-git', version: '1.0', args: [] }],
  ])('%j is a package', (line, want) => {
    expect(packageFromCommand(line[0]!, line.slice(1))).toEqual(want);
  });

  it.each([
    [['npx', '-p', '@acme/weather', 'weather-cli']],
    [['npx', './local-server']],
    [['npx', 'github:user/repo']],
    [['npx', 'https://example.com/x.tgz']],
    [['npx', 'Upper-Case']],
    [['npx', '-y']],
    [['uvx', '--from', 'mcp-server-git==1.0', 'mcp-server-git']],
    [['uvx', 'pkg[extra]']],
    [['uvx', '-y', 'pkg']],
    [['node', 'server.js']],
    [['npm', 'exec', 'pkg']],
  ])('%j stays a command', (line) => {
    expect(packageFromCommand(line[0]!, line.slice(1))).toBeNull();
  });
});
