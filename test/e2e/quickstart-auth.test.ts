/**
 * The README's quick start with credentials, as a new user runs it: Berth's first start prints an admin
 * token, `berth login` saves it (0600), the CLI then needs no flags, a client token with invoke scope
 * opens the deployment to an MCP client, revoking it closes it again, and a restart prints no new token.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startBerth, type BerthProcess } from '../support/berth-process.js';
import { connectV1, connectV2, textOf } from '../support/clients.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let home: string;
let dataDir: string;
let berth: BerthProcess;

/** The real bin/berth.js with a HOME of its own and no token in its environment. */
function cli(args: string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/berth.js'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: home, BERTH_URL: berth.url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(stdin ?? '');
  });
}

const printedToken = (output: string): string | undefined => /\n\s+(brt_[A-Za-z0-9]{43})\n/.exec(output)?.[1];

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'berth-home-'));
  dataDir = mkdtempSync(join(tmpdir(), 'berth-qs-'));
  // No BERTH_API_TOKEN: a first start as the README describes it.
  berth = await startBerth({ dataDir, env: { BERTH_API_TOKEN: '' } });
});

afterAll(async () => {
  await berth?.dispose();
  rmSync(home, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

describe('quick start with credentials', () => {
  it('first start prints an admin token once; login saves it 0600; deploy, tokens, a client, revoke, audit; a restart prints none', async () => {
    const admin = printedToken(berth.output());
    expect(admin, berth.output()).toBeDefined();
    expect(berth.output()).toContain('npx berth login');

    // Without a token the CLI is refused, and says how to get one.
    const anon = await cli(['ls']);
    expect(anon.code).toBe(1);
    expect(anon.stderr).toContain('UNAUTHORIZED');

    const wrong = await cli(['login'], `brt_${'x'.repeat(43)}\n`);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('UNAUTHORIZED');

    const login = await cli(['login'], `${admin}\n`);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain('Logged in');
    const file = join(home, '.config', 'berth', 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, '.config', 'berth')).mode & 0o777).toBe(0o700);
    expect(readFileSync(file, 'utf8')).toContain(admin!);

    const deploy = await cli(['deploy', '--name', 'everything', '--', 'npx', '-y', '@modelcontextprotocol/server-everything']);
    expect(deploy.code, deploy.stderr).toBe(0);
    const id = /\/s\/([a-z0-9-]+)\/mcp/.exec(deploy.stdout)![1]!;
    expect(deploy.stdout).toContain(`berth tokens create --scope invoke:${id}`);

    const created = await cli(['tokens', 'create', '--scope', `invoke:${id}`, '--name', 'desktop', '--expires', '30d', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const clientToken = (JSON.parse(created.stdout) as { token: string; id: string }).token;
    const tokenId = (JSON.parse(created.stdout) as { id: string }).id;
    expect(clientToken).toMatch(/^brt_[A-Za-z0-9]{43}$/);
    const endpoint = `${berth.url}/s/${id}/mcp`;

    await expect(connectV1(endpoint)).rejects.toThrow();
    for (const connect of [connectV1, connectV2]) {
      const c = await connect(endpoint, { authorization: `Bearer ${clientToken}` });
      try {
        expect(textOf(await c.call('echo', { message: 'with a token' }))).toContain('with a token');
      } finally {
        await c.close();
      }
    }
    // The client token may call tools but not manage anything.
    const limited = await fetch(`${berth.url}/api/deployments`, { headers: { authorization: `Bearer ${clientToken}` } });
    expect(limited.status).toBe(403);

    const ls = await cli(['tokens', 'ls']);
    expect(ls.stdout).toMatch(new RegExp(`${tokenId}\\s+desktop\\s+invoke:${id}\\s+active`));
    expect(ls.stdout).not.toContain(clientToken);
    const revoke = await cli(['tokens', 'revoke', tokenId]);
    expect(revoke.code, revoke.stderr).toBe(0);
    const after = await fetch(endpoint, { method: 'POST', headers: { authorization: `Bearer ${clientToken}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { error: { data: { code: string } } }).error.data.code).toBe('TOKEN_REVOKED');

    const audit = await cli(['audit', '--json']);
    const actions = (JSON.parse(audit.stdout) as { items: { action: string; target: string }[] }).items.map((e) => `${e.action} ${e.target}`);
    expect(actions).toEqual(expect.arrayContaining([`deployment.create ${id}`, `token.create ${tokenId}`, `token.revoke ${tokenId}`]));
    const csv = await cli(['audit', '--format', 'csv', '--action', 'token.revoke']);
    expect(csv.stdout.split('\r\n')[1]).toContain(tokenId);

    // A restart finds a usable admin token: it prints none, and the saved one still works.
    await berth.stop();
    berth = await startBerth({ dataDir, port: berth.port, env: { BERTH_API_TOKEN: '' } });
    expect(printedToken(berth.output())).toBeUndefined();
    const who = await cli(['whoami']);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toContain('admin');
  }, 240_000);
});
