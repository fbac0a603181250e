/**
 * `berth connect` through a real Berth (issue 13): the MCP SDK's own stdio client launches `bin/berth.js connect`,
 * as Claude Desktop would, and talks to a deployment and to a group through it. Berth is then restarted on the same
 * port and data dir while the client stays connected: the next calls succeed, on a session `berth connect` opened
 * again with the client's initialize. `--print-config` prints a snippet whose command really starts the proxy.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentView } from '../../src/core/index.js';
import { TestApi } from '../support/api.js';
import { ROOT, startBerth, type BerthProcess } from '../support/berth-process.js';
import { berthCli } from '../support/cli.js';
import { echoSpec } from '../support/servers.js';

const textOf = (r: unknown): string => ((r as { content?: { text?: string }[] }).content ?? []).map((c) => c.text ?? '').join('');

describe('berth connect (e2e)', () => {
  let berth: BerthProcess;
  let api: TestApi;
  let d: DeploymentView;
  let stderr = '';

  beforeAll(async () => {
    berth = await startBerth();
    api = new TestApi(berth.url, berth.token);
    d = await api.deploy(echoSpec('conn', [], { access: 'private' }, { env: { TAG: 'conn' } }));
    await api.waitFor(d.id);
    expect((await api.call('POST', '/api/groups', { name: 'desk', spec: { members: [{ deployment: 'conn' }] } })).status).toBe(201);
  });
  afterAll(async () => {
    await berth?.dispose();
  });

  async function connect(target: string, token: string, client = new Client({ name: 'desktop', version: '1.0.0' })): Promise<Client> {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(ROOT, 'bin/berth.js'), 'connect', target],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', BERTH_URL: berth.url, BERTH_TOKEN: token },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    await client.connect(transport);
    return client;
  }

  it('a stdio client reaches a deployment (by name) and a group through berth connect, with a token scoped to each', async () => {
    const c = await connect('conn', berth.token);
    try {
      expect((await c.listTools()).tools.map((t) => t.name)).toContain('echo');
      expect(textOf(await c.callTool({ name: 'env', arguments: { name: 'TAG' } }))).toBe('conn');
    } finally {
      await c.close();
    }
    const scoped = await api.call<{ token: string }>('POST', '/api/tokens', { scopes: ['invoke:group:desk'] });
    const g = await connect('group:desk', scoped.body.token);
    try {
      expect(textOf(await g.callTool({ name: 'conn__echo', arguments: { text: 'from the desktop' } }))).toBe('from the desktop');
    } finally {
      await g.close();
    }
  });

  it("passes the server's requests to the stdio client and its answers back (sampling, through a shared deployment and a group)", async () => {
    for (const target of ['conn', 'group:desk']) {
      const asked: string[] = [];
      const client = new Client({ name: 'desktop', version: '1.0.0' }, { capabilities: { sampling: {} } });
      client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
        const c = req.params.messages[0]?.content;
        asked.push(c && 'text' in c ? String(c.text) : '');
        return { model: 'desk', role: 'assistant', content: { type: 'text', text: `answered on the desktop (${target})` } };
      });
      const c = await connect(target, berth.token, client);
      try {
        const tool = target === 'conn' ? 'sample' : 'conn__sample';
        expect(textOf(await c.callTool({ name: tool, arguments: { prompt: `from ${target}` } }))).toBe(`answered on the desktop (${target})`);
        expect(asked).toEqual([`from ${target}`]);
      } finally {
        await c.close();
      }
    }
  });

  it('keeps the client connected across a Berth restart: the next call succeeds on a session opened again', async () => {
    const c = await connect(d.id, berth.token);
    try {
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'before' } }))).toBe('before');
      await berth.stop();
      // While Berth is down a call fails at once, saying why (nothing hangs).
      await expect(c.callTool({ name: 'echo', arguments: { text: 'down' } })).rejects.toThrow(/unreachable/);
      berth = await startBerth({ dataDir: berth.dataDir, port: Number(new URL(berth.url).port), env: { BERTH_API_TOKEN: berth.token } });
      api = new TestApi(berth.url, berth.token);
      await api.waitFor(d.id);
      // Berth is back: the first call meets the lost session; the proxy opens a new one with the client's
      // initialize and sends the call again there. The client sees no error at all.
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'after' } }))).toBe('after');
      expect(stderr).toMatch(/a new session is open/);
      // And keeps working: no further re-initialize is needed.
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'again' } }))).toBe('again');
    } finally {
      await c.close();
    }
  }, 120_000);

  it('--print-config prints a client snippet whose command starts the proxy', async () => {
    const r = await berthCli(berth, ['connect', 'conn', '--print-config']);
    expect(r.code, r.stderr).toBe(0);
    const cfg = JSON.parse(r.stdout) as { mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }> };
    const entry = cfg.mcpServers.conn!;
    expect(entry.args.slice(-2)).toEqual(['connect', 'conn']);
    expect(entry.env.BERTH_URL).toBe(berth.url);
    const vs = await berthCli(berth, ['connect', 'group:desk', '--print-config', '--client', 'vscode']);
    expect(JSON.parse(vs.stdout)).toMatchObject({ servers: { desk: { type: 'stdio' } } });
    // The snippet's command, run as a client would, answers MCP.
    const transport = new StdioClientTransport({ command: entry.command, args: entry.args, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...entry.env, BERTH_TOKEN: berth.token } });
    const client = new Client({ name: 'from-snippet', version: '1.0.0' });
    await client.connect(transport);
    try {
      expect(textOf(await client.callTool({ name: 'echo', arguments: { text: 'snippet' } }))).toBe('snippet');
    } finally {
      await client.close();
    }
  });
});
