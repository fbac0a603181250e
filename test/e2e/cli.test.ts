import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/berth-process.js';
import { berthCli as runCli, endpointIn, type CliRun } from '../support/cli.js';
import { useBerth } from '../support/use-berth.js';
import { connectV1, connectV2, textOf } from '../support/clients.js';

/** The tools our echo server registers at start (each `server.registerTool(` at the start of a line). */
const ECHO_TOOLS = readFileSync(join(ROOT, 'src/mcp/testing/mcp-echo-server.mjs'), 'utf8').match(/^server\.registerTool\(/gm)?.length ?? 0;

const ctx = useBerth();

/** Run the real `bin/berth.js` (from dist/) as a separate process against this Berth. */
const berthCli = (args: string[], timeoutMs?: number): Promise<CliRun> => runCli(ctx.berth, args, timeoutMs);

describe('the berth CLI against a real Berth', () => {
  it('runs the README quick start: deploy server-everything with npx, list it, call it', async () => {
    const r = await berthCli(['deploy', '--name', 'everything', '--', 'npx', '-y', '@modelcontextprotocol/server-everything']);
    expect(r.code, r.stderr).toBe(0);
    const endpoint = endpointIn(r.stdout);
    expect(r.stdout).toContain('"mcpServers"');
    const ls = await berthCli(['ls']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/ID\s+NAME\s+STATUS\s+ENDPOINT\s+UPTIME\s+REQUESTS/);
    expect(ls.stdout).toMatch(/everything-[a-z0-9]+\s+everything\s+running/);
    const c = await connectV2(endpoint, ctx.berth.authHeaders());
    try {
      expect(textOf(await c.call('echo', { message: 'quick start' }))).toContain('quick start');
    } finally {
      await c.close();
    }
  });

  it('deploys our own server, then status, logs, logs -f, stop, start and rm', async () => {
    const deploy = await berthCli(['deploy', '--name', 'echo-cli', '--cwd', ROOT, '--', process.execPath, join(ROOT, 'src/mcp/testing/mcp-echo-server.mjs')]);
    expect(deploy.code, deploy.stderr).toBe(0);
    const endpoint = endpointIn(deploy.stdout);
    const id = endpoint.split('/s/')[1]!.split('/')[0]!;
    expect(id).toMatch(/^echo-cli-[a-z0-9]{12}$/);

    const c = await connectV1(endpoint, ctx.berth.authHeaders());
    expect(textOf(await c.call('echo', { text: 'via cli' }))).toBe('via cli');
    await c.close();

    const status = await berthCli(['status', id]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/status:\s+running/i);
    // The server's process tree, measured from /proc: a Node server holds tens of MiB.
    expect(status.stdout).toMatch(/^usage:\s+\d+\.\d MiB memory, \d+\.\d\d s CPU, \d+ process/m);
    const json = await berthCli(['status', id, '--json']);
    const view = JSON.parse(json.stdout) as { usage: { revision: number; memory_bytes: number; processes: number }[] };
    expect(ECHO_TOOLS).toBeGreaterThan(10);
    expect(view).toMatchObject({ id, status: 'running', tools_count: ECHO_TOOLS });
    expect(view.usage).toHaveLength(1);
    expect(view.usage[0]).toMatchObject({ revision: 1 });
    expect(view.usage[0]!.memory_bytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(view.usage[0]!.processes).toBeGreaterThanOrEqual(1);

    const logs = await berthCli(['logs', id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain(`ready: ${ECHO_TOOLS} tools`);

    // logs -f: follow, see the stop arrive live.
    const follower = spawn(process.execPath, [join(ROOT, 'bin/berth.js'), 'logs', id, '-f', '--tail', '1'], { env: { ...process.env, BERTH_URL: ctx.berth.url, BERTH_TOKEN: ctx.berth.token }, stdio: ['ignore', 'pipe', 'pipe'] });
    let followed = '';
    follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
    // The one tail line shows the follower is connected; only then stop, so the live line can't be missed.
    for (let i = 0; i < 200 && !followed.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(followed).toContain('[berth]');
    expect(followed).not.toContain('stopped');

    const stop = await berthCli(['stop', id]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toBe('');
    expect((await ctx.api.status(id)).status).toBe('stopped');
    const refused = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...ctx.berth.authHeaders() }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    expect(refused.status).toBe(503);
    for (let i = 0; i < 50 && !followed.includes('stopped'); i++) await new Promise((r) => setTimeout(r, 100));
    follower.kill('SIGINT');
    expect(followed).toContain('stopped');

    const start = await berthCli(['start', id]);
    expect(start.code).toBe(0);
    await ctx.api.waitFor(id);

    const rm = await berthCli(['rm', id]);
    expect(rm.code).toBe(0);
    const ls = await berthCli(['ls']);
    expect(ls.stdout).not.toContain(id);
    const lsAll = await berthCli(['ls', '--all']);
    expect(lsAll.stdout).toMatch(new RegExp(`${id}\\s+echo-cli\\s+deleted`));
    const gone = await berthCli(['status', id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('DEPLOYMENT_NOT_FOUND');
  });

  it('reports a server that cannot start: exit 1, the reason and its log lines', async () => {
    const r = await berthCli(['deploy', '--name', 'broken', '--timeout', '60', '--', '/nonexistent/mcp-server']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed/i);
    expect(r.stderr).toContain('/nonexistent/mcp-server');
  });

  it('rejects bad usage with exit 2 and says why', async () => {
    const r = await berthCli(['deploy', '-e', 'NOEQUALS', '--', 'node', 'x.js']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/KEY=VALUE|NOEQUALS/);
  });
});

describe('the berth CLI writing to a reader that goes away', () => {
  it('ends quietly with no EPIPE stack when its stdout is closed early (berth --help | head -1)', async () => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/berth.js'), '--help'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    // The reader leaves at once: every write the CLI makes meets a closed pipe.
    p.stdout.destroy();
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(code).toBe(0);
  });
});
