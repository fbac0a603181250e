import { describe, expect, it } from 'vitest';
import { exportConfig, looksSecret, planImport } from './client-config.js';

describe('client config import (planImport)', () => {
  it('reads Claude Desktop / Cursor mcpServers: npx and uvx become packages, other commands processes, URLs url deployments; secret-looking values become secrets', () => {
    const plan = planImport(
      JSON.stringify({
        mcpServers: {
          memory: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'], env: { MEMORY_FILE_PATH: '/data/kg.jsonl' } },
          time: { command: 'uvx', args: ['mcp-server-time==0.6.2', '--local-timezone', 'UTC'] },
          github: { command: 'node', args: ['/srv/gh/index.js'], env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'ghp_abc123', LOG_LEVEL: 'info', PLAIN: 'sk-looks-like-a-key' } },
          remote: { url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer xyz' } },
          legacy: { type: 'sse', url: 'https://old.example.com/sse' },
          off: { command: 'node', args: ['x.js'], disabled: true },
          odd: { foo: 1 },
        },
      }),
    );
    expect(plan.format).toBe('mcpServers');
    const by = Object.fromEntries(plan.deployments.map((d) => [d.name, d]));
    expect(by.memory!.body.spec).toEqual({ type: 'package', registry: 'npm', name: '@modelcontextprotocol/server-memory', args: [], env: { MEMORY_FILE_PATH: '/data/kg.jsonl' } });
    expect(by.time!.body.spec).toMatchObject({ type: 'package', registry: 'pypi', name: 'mcp-server-time', version: '0.6.2', args: ['--local-timezone', 'UTC'] });
    expect(by.github!.body.spec).toMatchObject({ type: 'process', command: 'node', env: { LOG_LEVEL: 'info' } });
    expect(by.github!.body.secrets).toEqual({ GITHUB_PERSONAL_ACCESS_TOKEN: 'ghp_abc123', PLAIN: 'sk-looks-like-a-key' });
    expect(by.github!.secrets).toEqual(['GITHUB_PERSONAL_ACCESS_TOKEN', 'PLAIN']);
    expect(by.remote!.body.spec).toEqual({ type: 'url', endpoint: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer xyz' } });
    expect(by.legacy!.body.spec).toMatchObject({ type: 'url', transport: 'sse' });
    expect(plan.skipped).toEqual([
      { name: 'off', why: 'disabled in the config' },
      { name: 'odd', why: 'neither a command nor a url' },
    ]);
    expect(plan.deployments.every((d) => d.body.start === true)).toBe(true);
  });

  it("reads VS Code's servers: a value the client asks for (${input:…}) is left to set later and the deployment stays stopped", () => {
    const plan = planImport(JSON.stringify({ inputs: [{ id: 'key', type: 'promptString' }], servers: { fs: { type: 'stdio', command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/srv'], env: { API_KEY: '${input:key}' } }, ws: { command: 'node', args: ['${workspaceFolder}/s.js'] } } }));
    expect(plan.format).toBe('vscode');
    expect(plan.deployments).toHaveLength(1);
    expect(plan.deployments[0]).toMatchObject({ name: 'fs', unresolved: ['API_KEY'], body: { start: false, spec: { type: 'package', args: ['/srv'] } } });
    expect(plan.skipped[0]).toMatchObject({ name: 'ws', why: expect.stringContaining('filled in by the client') });
  });

  it("reads MCPHub's mcp_settings.json with its groups (members that were imported only)", () => {
    const plan = planImport(JSON.stringify({ mcpServers: { a: { command: 'node', args: ['a.js'] }, b: { command: 'node', args: ['b.js'], enabled: false } }, groups: [{ id: 'g1', name: 'My Tools', servers: ['a', { name: 'b' }] }, { name: 'empty', servers: ['b'] }] }));
    expect(plan.groups).toEqual([{ name: 'my-tools', members: ['a'] }]);
    expect(plan.skipped.map((s) => s.name)).toEqual(['b', 'group empty']);
  });

  it('refuses what is not a client config, saying what it expected', () => {
    expect(() => planImport('nope')).toThrow(/not JSON/);
    expect(() => planImport('[]')).toThrow(/mcpServers/);
    expect(() => planImport('{"x":{}}')).toThrow(/no "mcpServers"/);
  });

  it('takes names and known token shapes as secrets, ordinary values not', () => {
    expect(looksSecret('OPENAI_API_KEY', 'x')).toBe(true);
    expect(looksSecret('SLACK_BOT_TOKEN', 'x')).toBe(true);
    expect(looksSecret('DB_PASSWORD', 'x')).toBe(true);
    expect(looksSecret('ANYTHING', 'xoxb-123')).toBe(true);
    expect(looksSecret('MONKEY', 'banana')).toBe(false);
    expect(looksSecret('LOG_LEVEL', 'debug')).toBe(false);
  });
});

describe('client config export (exportConfig)', () => {
  const targets = [{ label: 'kg', connect: 'kg-aaaaaaaaaaaa', url: 'http://127.0.0.1:8080/s/kg-aaaaaaaaaaaa/mcp' }];
  const opts = { node: '/usr/bin/node', bin: '/opt/berth/bin/berth.js', berthUrl: 'http://127.0.0.1:8080' };

  it('Claude Desktop: berth connect commands; Cursor: the URL with the token from the environment; VS Code: http servers and a password input', () => {
    expect(exportConfig('claude', targets, opts)).toEqual({ mcpServers: { kg: { command: '/usr/bin/node', args: ['/opt/berth/bin/berth.js', 'connect', 'kg-aaaaaaaaaaaa'], env: { BERTH_URL: 'http://127.0.0.1:8080' } } } });
    expect(exportConfig('cursor', targets, opts)).toEqual({ mcpServers: { kg: { url: targets[0]!.url, headers: { Authorization: 'Bearer ${env:BERTH_TOKEN}' } } } });
    const vs = exportConfig('vscode', targets, opts) as { inputs: { id: string; password: boolean }[]; servers: Record<string, { type: string; headers: Record<string, string> }> };
    expect(vs.inputs[0]).toMatchObject({ id: 'berth-token', password: true });
    expect(vs.servers.kg).toMatchObject({ type: 'http', headers: { Authorization: 'Bearer ${input:berth-token}' } });
    expect(exportConfig('vscode', targets, { ...opts, token: 'brt_x' })).not.toHaveProperty('inputs');
  });
});
