/**
 * `berth config import` and `berth config export` through a real Berth (issue 13): an MCPHub-style config (its
 * mcpServers and groups) with two of our stdio servers becomes two running deployments and a group; a value that
 * looks like a secret is stored as one (the spec holds a reference, the server still gets the value); a config
 * exported for Cursor, with a minted token, is used as it is by the MCP SDK client.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeploymentView } from '../../src/core/index.js';
import { ROOT } from '../support/berth-process.js';
import { berthCli } from '../support/cli.js';
import { connectV1, connectV2, textOf } from '../support/clients.js';
import { useBerth } from '../support/use-berth.js';

const ctx = useBerth();
const dir = mkdtempSync(join(tmpdir(), 'berth-client-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ECHO = join(ROOT, 'src/mcp/testing/mcp-echo-server.mjs');

describe('client configs in and out (e2e)', () => {
  const file = join(dir, 'mcp_settings.json');
  writeFileSync(
    file,
    JSON.stringify({
      mcpServers: {
        // cwd: the sandbox shows a server its working folder (here the repository with the test server).
        'cfg-one': { command: process.execPath, args: [ECHO], cwd: ROOT, env: { TAG: 'one', SERVICE_API_KEY: 'k-1234-secret' } },
        'cfg-two': { command: process.execPath, args: [ECHO], cwd: ROOT, env: { TAG: 'two' } },
        'cfg-off': { command: process.execPath, args: [ECHO], enabled: false },
      },
      groups: [{ id: 'x', name: 'Imported Pair', servers: ['cfg-one', { name: 'cfg-two' }] }],
    }),
  );

  it('--dry-run reports the plan and changes nothing', async () => {
    const r = await berthCli(ctx.berth, ['config', 'import', file, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cfg-one\s+would import\s+command .*secrets: SERVICE_API_KEY/m);
    expect(r.stdout).toMatch(/^cfg-off\s+skipped\s+disabled in the config/m);
    expect(r.stdout).toMatch(/^group imported-pair\s+would import\s+cfg-one, cfg-two/m);
    const list = await ctx.api.call<{ items: DeploymentView[] }>('GET', '/api/deployments');
    expect(list.body.items.filter((d) => d.name.startsWith('cfg-'))).toEqual([]);
  });

  it('imports the servers (a secret-looking value stored as a secret) and the group, and reports it', async () => {
    const r = await berthCli(ctx.berth, ['config', 'import', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^cfg-one\s+imported\s+cfg-one-[a-z0-9]{12}/m);
    expect(r.stdout).toMatch(/^group imported-pair\s+imported/m);
    expect(r.stdout).toMatch(/3 imported, 1 skipped/);
    const one = (await ctx.api.call<DeploymentView>('GET', '/api/deployments/cfg-one')).body;
    await ctx.api.waitFor(one.id);
    const env = (one.spec as { env: Record<string, string> }).env;
    expect(env.SERVICE_API_KEY).toBe(`secret_ref:${one.id}:SERVICE_API_KEY`);
    expect(JSON.stringify(one)).not.toContain('k-1234-secret');
    const c = await connectV1(`${ctx.berth.url}/g/imported-pair/mcp`, ctx.berth.authHeaders());
    try {
      expect(textOf(await c.call('cfg-one__env', { name: 'SERVICE_API_KEY' }))).toBe('k-1234-secret');
      expect(textOf(await c.call('cfg-two__env', { name: 'TAG' }))).toBe('two');
    } finally {
      await c.close();
    }
    // A second import of the same file creates nothing new: each name is taken.
    const again = await berthCli(ctx.berth, ['config', 'import', file]);
    expect(again.stdout).toMatch(/^cfg-one\s+skipped\s+NAME_TAKEN/m);
  });

  it('exports a Cursor config with a minted token that the SDK client uses as it is; VS Code with a password input', async () => {
    const r = await berthCli(ctx.berth, ['config', 'export', '--client', 'cursor', '--group', 'imported-pair', '--mint-token']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/scoped to invoke:group:imported-pair/);
    const cfg = JSON.parse(r.stdout) as { mcpServers: Record<string, { url: string; headers: Record<string, string> }> };
    const entry = cfg.mcpServers['imported-pair']!;
    expect(entry.url).toBe(`${ctx.berth.url}/g/imported-pair/mcp`);
    const c = await connectV2(entry.url, { authorization: entry.headers.Authorization! });
    try {
      expect(textOf(await c.call('cfg-two__echo', { text: 'exported' }))).toBe('exported');
    } finally {
      await c.close();
    }
    const vs = await berthCli(ctx.berth, ['config', 'export', '--client', 'vscode']);
    const v = JSON.parse(vs.stdout) as { inputs: unknown[]; servers: Record<string, { type: string; url: string }> };
    expect(v.inputs).toHaveLength(1);
    expect(v.servers['cfg-one']).toMatchObject({ type: 'http', url: expect.stringMatching(/\/s\/cfg-one-[a-z0-9]{12}\/mcp$/) });
    const bad = await berthCli(ctx.berth, ['config', 'export', '--client', 'emacs']);
    expect(bad.code).toBe(2);
  });
});
