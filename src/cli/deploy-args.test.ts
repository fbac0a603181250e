import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildCreateInput, collectEnv, collectHeader, deriveName } from './deploy-args.js';

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
});

describe('buildCreateInput', () => {
  it('refuses to mix a command with --url, and url-only options with a command', () => {
    expect(() => buildCreateInput({ start: true, url: 'https://x/mcp' }, ['npx'])).toThrow(/not both/);
    expect(() => buildCreateInput({ start: true, url: 'https://x/mcp', env: { A: '1' } }, [])).toThrow(/--env/);
    expect(() => buildCreateInput({ start: true, header: { A: '1' } }, ['npx'])).toThrow(/--header/);
  });
});
