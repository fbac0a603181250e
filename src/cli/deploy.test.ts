import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StandInApi } from './testing/stand-in-api.js';
import { startStandInApi } from './testing/stand-in-api.js';
import { runCli } from './testing/run-cli.js';

describe('against a stand-in API server', () => {
  let api: StandInApi;
  const posts = () => api.requests.filter((r) => r.method === 'POST' && r.path === '/api/deployments');
  const statusPolls = () => api.requests.filter((r) => r.path.endsWith('/status'));

  beforeEach(async () => {
    api = await startStandInApi({
      script: (input) =>
        input.name === 'broken'
          ? [{ status: 'deploying' }, { status: 'failed', message: 'process exited with code 1 before answering initialize' }]
          : input.name === 'slow'
            ? [{ status: 'deploying' }]
            : [{ status: 'pending' }, { status: 'deploying' }, { status: 'deploying' }, { status: 'running' }],
    });
  });
  afterEach(() => api.close());

  it('turns `npx -y PKG ARGS` into a package spec with the arguments preserved, waits through deploying to running, prints endpoint and snippet', async () => {
    const r = await runCli(['--url', api.url, 'deploy', '--', 'npx', '-y', '@modelcontextprotocol/server-everything', '--port', '-x']);
    expect(r.stderr).toContain(': deploying\n');
    expect(r.code).toBe(0);
    expect(posts()).toHaveLength(1);
    expect(posts()[0]?.body).toEqual({
      name: 'everything',
      start: true,
      spec: { type: 'package', registry: 'npm', name: '@modelcontextprotocol/server-everything', args: ['--port', '-x'], env: {} },
    });
    expect(r.stdout).toContain('Running @modelcontextprotocol/server-everything@latest from the package cache (no npx)');
    expect(statusPolls().length).toBeGreaterThanOrEqual(4);
    const id = 'everything-000000000001';
    const endpoint = `${api.url}/s/${id}/mcp`;
    expect(r.stdout).toContain(id);
    expect(r.stdout).toContain(`Endpoint: ${endpoint}`);
    const snippet = r.stdout.slice(r.stdout.indexOf('{'), r.stdout.lastIndexOf('}') + 1);
    expect(JSON.parse(snippet)).toEqual({ mcpServers: { everything: { type: 'http', url: endpoint, headers: { Authorization: `Bearer <token: berth tokens create --scope invoke:${id}>` } } } });
    expect(r.stdout).toContain(`berth tokens create --scope invoke:${id}`);
    expect(r.stdout).toContain(`berth logs ${id} -f`);
    // Non-TTY progress: one line per status change, no spinner control codes.
    expect(r.stderr.split('\n').filter(Boolean)).toEqual([`${id}: pending`, `${id}: deploying`, `${id}: running`]);
  });

  it('keeps npx as the command with --no-package-cache, and takes --package npm:NAME@VERSION with the arguments after --', async () => {
    await runCli(['--url', api.url, 'deploy', '--no-wait', '--no-package-cache', '--', 'npx', '-y', 'some-server@1.2.3', '-v']);
    expect(posts()[0]?.body).toMatchObject({ spec: { type: 'process', command: 'npx', args: ['-y', 'some-server@1.2.3', '-v'] } });
    const r = await runCli(['--url', api.url, 'deploy', '--no-wait', '--package', 'pypi:mcp-server-fetch==1.0', '-e', 'A=1', '--', '--verbose']);
    expect(r.code, r.stderr).toBe(0);
    expect(posts()[1]?.body).toMatchObject({ name: 'fetch', spec: { type: 'package', registry: 'pypi', name: 'mcp-server-fetch', version: '1.0', args: ['--verbose'], env: { A: '1' } } });
    expect(r.stdout).toContain('Running mcp-server-fetch@1.0 from the package cache (no uvx)');
    const bad = await runCli(['--url', api.url, 'deploy', '--package', 'cargo:x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/expected npm:NAME\[@VERSION\] or pypi:NAME\[==VERSION\]/);
  });

  it('parses -e KEY=VALUE (values may contain =) and the other process options', async () => {
    const r = await runCli([
      '--url', api.url, 'deploy', '--name', 'files', '--description', 'd', '--tag', 'a', '--tag', 'b',
      '-e', 'FOO=bar', '--env', 'URL=x=y', '-e', 'EMPTY=', '--cwd', '/srv', '--isolated', '--no-wait', '--', 'node', 'server.js',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(posts()[0]?.body).toEqual({
      name: 'files',
      description: 'd',
      tags: ['a', 'b'],
      start: true,
      spec: { type: 'process', command: 'node', args: ['server.js'], env: { FOO: 'bar', URL: 'x=y', EMPTY: '' }, cwd: '/srv', mode: 'isolated' },
    });
    expect(statusPolls()).toHaveLength(0);
  });

  it('sends --cwd as an absolute path, resolved where the command was typed', async () => {
    const r = await runCli(['--url', api.url, 'deploy', '--no-wait', '--cwd', 'servers/mine', '--', 'node', 'index.js']);
    expect(r.code).toBe(0);
    expect((posts()[0]?.body as { spec: { cwd: string } }).spec.cwd).toBe(path.join(process.cwd(), 'servers/mine'));
  });

  it('rejects -e FOO with a usage error (exit 2) and sends nothing', async () => {
    const r = await runCli(['--url', api.url, 'deploy', '-e', 'FOO', '--', 'npx', 'pkg']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^berth: .*'FOO'.*KEY=VALUE/);
    expect(api.requests).toHaveLength(0);
  });

  it('rejects a deploy with nothing to run (exit 2)', async () => {
    const r = await runCli(['--url', api.url, 'deploy']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('berth: nothing to deploy');
    expect(api.requests).toHaveLength(0);
  });

  it('deploys a remote endpoint with --url and --header', async () => {
    const r = await runCli(['--url', api.url, 'deploy', '--url', 'https://mcp.example.com/mcp', '--header', 'Authorization: Bearer abc', '--no-wait']);
    expect(r.code).toBe(0);
    expect(posts()[0]?.body).toEqual({
      name: 'mcp.example.com',
      start: true,
      spec: { type: 'url', endpoint: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer abc' } },
    });
  });

  it('with --public asks for public access and prints a snippet without a token', async () => {
    const r = await runCli(['--url', api.url, 'deploy', '--public', '--', 'npx', '-y', '@modelcontextprotocol/server-everything']);
    expect(r.code).toBe(0);
    expect(posts()[0]?.body).toMatchObject({ access: 'public' });
    const snippet = r.stdout.slice(r.stdout.indexOf('{'), r.stdout.lastIndexOf('}') + 1);
    expect(JSON.parse(snippet)).toEqual({ mcpServers: { everything: { type: 'http', url: `${api.url}/s/everything-000000000001/mcp` } } });
    expect(r.stdout).not.toContain('tokens create');
  });

  it('with --no-start creates it stopped and does not wait', async () => {
    const r = await runCli(['--url', api.url, 'deploy', '--no-start', '--', 'uvx', 'mcp-server-fetch']);
    expect(r.code).toBe(0);
    expect((posts()[0]?.body as { start: boolean; name: string })).toMatchObject({ start: false, name: 'fetch' });
    expect(statusPolls()).toHaveLength(0);
    expect(r.stdout).toContain('berth start fetch-000000000001');
  });

  it('exits 1 with the status message and the last log lines when the deployment fails', async () => {
    api.appendLog('broken-000000000001', 'system', 'starting npx');
    api.appendLog('broken-000000000001', 'system', '[main] warning: /x/server.mjs is outside what the sandboxed server can see');
    for (let i = 1; i <= 25; i++) api.appendLog('broken-000000000001', 'stderr', `Error line ${i}`);
    const r = await runCli(['--url', api.url, 'deploy', '--name', 'broken', '--', 'npx', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('berth: Deployment broken-000000000001 is failed: process exited with code 1 before answering initialize (DEPLOY_FAILED)');
    expect(r.stderr).toContain('Last log lines:');
    expect(r.stderr).toContain('stderr  Error line 25');
    expect(r.stderr).toContain('Error line 6\n');
    expect(r.stderr).not.toContain('Error line 5\n');
    // Berth's warning from before the last 20 lines is kept, ahead of them; its other early lines are not.
    expect(r.stderr).toMatch(/Last log lines:\n\S+ \[berth\] \[main\] warning: \/x\/server\.mjs is outside[^\n]*\n\S+ stderr  Error line 6\n/);
    expect(r.stderr).not.toContain('starting npx');
  });

  it('gives up after --timeout and exits 1', async () => {
    const started = Date.now();
    const r = await runCli(['--url', api.url, 'deploy', '--name', 'slow', '--timeout', '0.3', '--', 'npx', 'slow']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('berth: Timed out after 0.3s waiting for slow-000000000001 to run (status: deploying)');
    expect(r.stderr).toContain('(DEPLOY_TIMEOUT)');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('draws a spinner when stderr is a TTY and clears it before the result', async () => {
    const r = await runCli(['--url', api.url, 'deploy', '--', 'npx', '-y', 'pkg'], { tty: true, pollIntervalMs: 100 });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\r\x1b\[2K⠋ pkg-000000000001: pending/);
    expect(r.stderr.endsWith('\r\x1b[2K')).toBe(true);
    expect(r.stderr).not.toContain('\n');
  });

  it('--json prints only the final deployment JSON', async () => {
    const r = await runCli(['--url', api.url, '--json', 'deploy', '--', 'npx', '-y', 'pkg']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ id: 'pkg-000000000001', status: 'running' });
  });
});
