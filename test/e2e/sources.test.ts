/**
 * Deploying from source on the process runtime (issue 12, "Sources"), against a real Berth: a ZIP of a Node MCP
 * server on the official SDK (its dependency installed from the npm registry into the revision's workspace), a
 * TypeScript one that needs `npm run build`, a standard-library Python one; folders deployed through the CLI; tools
 * called through the gateway with the SDK client; an update with new code, then a rollback to the first digest.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SourceUpload } from '../../src/api/contract.js';
import { packFolder } from '../../src/cli/source-pack.js';
import type { DeploymentView, RevisionView } from '../../src/core/index.js';
import { ROOT } from '../support/berth-process.js';
import { berthCli, endpointIn } from '../support/cli.js';
import { connectV1, textOf } from '../support/clients.js';
import { useBerth } from '../support/use-berth.js';

const FIXTURES = join(ROOT, 'test/fixtures/sources');
const work = mkdtempSync(join(tmpdir(), 'berth-sources-e2e-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ctx = useBerth({ env: { BERTH_BUILD_TIMEOUT_S: '600' } });
const INSTALL_MS = 600_000;

/** A fixture folder packed into a ZIP (optionally with files changed): its path. */
async function zipOf(fixture: string, changes: Record<string, string> = {}): Promise<string> {
  const dir = mkdtempSync(join(work, `${fixture}-`));
  cpSync(join(FIXTURES, fixture), dir, { recursive: true });
  for (const [rel, text] of Object.entries(changes)) writeFileSync(join(dir, rel), text);
  const zip = `${dir}.zip`;
  await packFolder(dir, zip);
  return zip;
}

async function upload(zip: string): Promise<{ status: number; body: SourceUpload }> {
  const res = await fetch(`${ctx.berth.url}/api/sources`, { method: 'POST', headers: { ...ctx.berth.authHeaders(), 'content-type': 'application/zip' }, body: readFileSync(zip) });
  return { status: res.status, body: (await res.json()) as SourceUpload };
}

const logsOf = async (id: string): Promise<string> => (await ctx.api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${id}/logs?tail=300`)).body.items.map((e) => e.line).join('\n');
const history = async (id: string): Promise<RevisionView[]> => (await ctx.api.call<{ items: RevisionView[] }>('GET', `/api/deployments/${id}/revisions`)).body.items;

async function callTool(endpoint: string, name: string, args: Record<string, unknown>): Promise<{ tools: string[]; text: string }> {
  const client = await connectV1(endpoint);
  try {
    return { tools: await client.listToolNames(), text: textOf(await client.call(name, args)) };
  } finally {
    await client.close();
  }
}

describe('deploy from source (process runtime)', () => {
  let node: DeploymentView;
  let firstDigest = '';

  it('stores a ZIP and reports what it detected (POST /api/sources), the same content under the same digest', async () => {
    const zip = await zipOf('node-sdk');
    const up = await upload(zip);
    expect(up.status).toBe(201);
    expect(up.body.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(up.body.files).toBe(3);
    expect(up.body.report.plan).toMatchObject({ language: 'node', packageManager: 'npm', install: ['npm', 'install'], start: ['node', 'index.js'] });
    expect(up.body.report.findings).toContainEqual(expect.objectContaining({ what: 'MCP SDK', from: 'package.json dependencies' }));
    expect(up.body.report.problems).toStrictEqual([]);
    expect((await upload(zip)).body.digest).toBe(up.body.digest);
    firstDigest = up.body.digest;
  });

  it('deploys a ZIP of a Node server on the SDK in one multipart request; its dependency installed once into the revision workspace', async () => {
    const form = new FormData();
    form.set('deployment', JSON.stringify({ name: 'src-node', access: 'public', spec: { network: 'none' } }));
    form.set('source', new Blob([readFileSync(await zipOf('node-sdk'))], { type: 'application/zip' }), 'server.zip');
    const res = await fetch(`${ctx.berth.url}/api/deployments`, { method: 'POST', headers: ctx.berth.authHeaders(), body: form });
    const body = (await res.json()) as DeploymentView;
    expect(res.status, JSON.stringify(body)).toBe(201);
    node = body;
    expect(node.spec).toMatchObject({ type: 'source', source: { kind: 'upload', digest: firstDigest } });
    await ctx.api.waitFor(node.id, 'running', INSTALL_MS);
    const out = await callTool(node.endpoint, 'echo', { text: 'hi' });
    expect(out.tools.sort()).toStrictEqual(['echo', 'version']);
    expect(out.text).toBe('node-sdk: hi');
    const ws = join(ctx.berth.dataDir, 'workspaces', node.id, '1');
    expect(existsSync(join(ws, 'node_modules/@modelcontextprotocol/sdk/package.json'))).toBe(true);
    expect(existsSync(`${ws}.ready`)).toBe(true);
    // The stored tree stays as uploaded: the install went to the workspace.
    expect(existsSync(join(ctx.berth.dataDir, 'sources', 'trees', firstDigest.slice(7), 'node_modules'))).toBe(false);
    expect((await history(node.id))[0]).toMatchObject({ number: 1, source_digest: firstDigest });
    const logs = await logsOf(node.id);
    expect(logs).toContain('installing dependencies: npm install');
    // A restart reuses the workspace: no second install.
    const before = (logs.match(/installing dependencies: npm install/g) ?? []).length;
    expect((await ctx.api.call('POST', `/api/deployments/${node.id}/restart`)).status).toBe(202);
    await ctx.api.settled(node.id, INSTALL_MS);
    expect((await callTool(node.endpoint, 'version', {})).text).toBe('v1');
    expect(((await logsOf(node.id)).match(/installing dependencies: npm install/g) ?? []).length).toBe(before);
  }, INSTALL_MS + 60_000);

  it('berth update NAME ./folder serves new code as revision 2; berth rollback serves revision 1\'s digest again', async () => {
    const dir = mkdtempSync(join(work, 'node-v2-'));
    cpSync(join(FIXTURES, 'node-sdk'), dir, { recursive: true });
    writeFileSync(join(dir, 'version.js'), "export const VERSION = 'v2';\n");
    const up = await berthCli(ctx.berth, ['update', node.name, dir, '--timeout', '600'], INSTALL_MS);
    expect(up.code, up.stderr + up.stdout).toBe(0);
    expect(up.stdout).toContain('revision 2');
    expect((await callTool(node.endpoint, 'version', {})).text).toBe('v2');
    const revs = await history(node.id);
    expect(revs[0]!.number).toBe(2);
    expect(revs[0]!.source_digest).not.toBe(firstDigest);

    const back = await berthCli(ctx.berth, ['rollback', node.name, '--timeout', '600'], INSTALL_MS);
    expect(back.code, back.stderr + back.stdout).toBe(0);
    expect((await callTool(node.endpoint, 'version', {})).text).toBe('v1');
    const after = await history(node.id);
    expect(after[0]).toMatchObject({ number: 3, reason: 'rollback', from_revision: 1, source_digest: firstDigest });
    const shown = await berthCli(ctx.berth, ['history', node.name]);
    expect(shown.stdout).toContain(firstDigest.slice(0, 19));
    // Old workspaces are pruned after the switch: the serving one and the one before it stay.
    const left = readdirSync(join(ctx.berth.dataDir, 'workspaces', node.id)).filter((n) => /^\d+$/.test(n));
    expect(left).not.toContain('1');
    expect(left).toContain('3');
  }, 2 * INSTALL_MS);

  it('deploys a TypeScript folder through the CLI: installed, built with npm run build, then run', async () => {
    const out = await berthCli(ctx.berth, ['deploy', join(FIXTURES, 'ts-build'), '--name', 'src-ts', '--public', '--network', 'none', '--timeout', '600'], INSTALL_MS);
    expect(out.code, out.stderr + out.stdout).toBe(0);
    expect(out.stderr).toMatch(/packed \d+ files/);
    const endpoint = endpointIn(out.stdout);
    expect((await callTool(endpoint, 'add', { a: 2, b: 3 })).text).toBe('ts-build: 5');
    const id = /\/s\/([a-z0-9-]+)\/mcp/.exec(endpoint)![1]!;
    const logs = await logsOf(id);
    expect(logs).toContain('building: npm run build');
    expect(existsSync(join(ctx.berth.dataDir, 'workspaces', id, '1', 'dist', 'index.js'))).toBe(true);
  }, INSTALL_MS + 60_000);

  it('prints the detection report of a standard-library Python folder (--dry-run), then deploys it with no install', async () => {
    const dry = await berthCli(ctx.berth, ['deploy', '--dry-run', join(FIXTURES, 'python-stdlib')]);
    expect(dry.code, dry.stderr + dry.stdout).toBe(0);
    expect(dry.stdout).toContain('Detected:');
    expect(dry.stdout).toMatch(/start\s+python server\.py\s+\(from server\.py\)/);
    expect(dry.stdout).toContain('NO_MCP_SDK');
    expect(dry.stdout).toContain('Ready to deploy');
    const list = (await ctx.api.call<{ items: DeploymentView[] }>('GET', '/api/deployments')).body.items;
    expect(list.map((d) => d.name)).not.toContain('python-stdlib');

    const out = await berthCli(ctx.berth, ['deploy', join(FIXTURES, 'python-stdlib'), '--public', '--network', 'none']);
    expect(out.code, out.stderr + out.stdout).toBe(0);
    expect((await callTool(endpointIn(out.stdout), 'shout', { text: 'hello' })).text).toBe('python: HELLO');
  }, 120_000);

  it('refuses a source detection cannot start (SOURCE_INVALID, 422, with the problems), and --dry-run says how to fix it', async () => {
    const dir = mkdtempSync(join(work, 'nothing-'));
    writeFileSync(join(dir, 'README.md'), '# no server here');
    const dry = await berthCli(ctx.berth, ['deploy', '--dry-run', dir]);
    expect(dry.code).not.toBe(0);
    expect(dry.stdout).toContain('NO_ENTRY_POINT');
    expect(dry.stdout).toContain('fix:');
    const zip = join(work, 'nothing.zip');
    await packFolder(dir, zip);
    const { body } = await upload(zip);
    const res = await ctx.api.call<{ error: { code: string; details: { problems: { code: string }[] } } }>('POST', '/api/deployments', { name: 'nothing', spec: { type: 'source', source: { kind: 'upload', digest: body.digest } } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('SOURCE_INVALID');
    expect(res.body.error.details.problems.map((p) => p.code)).toStrictEqual(['NO_ENTRY_POINT']);
    const missing = await ctx.api.call<{ error: { code: string } }>('POST', '/api/deployments', { name: 'missing', spec: { type: 'source', source: { kind: 'upload', digest: `sha256:${'e'.repeat(64)}` } } });
    expect(missing.body.error.code).toBe('SOURCE_NOT_FOUND');
  });

  it('removes the workspaces with the deployment', async () => {
    expect((await ctx.api.call('DELETE', `/api/deployments/${node.id}`)).status).toBe(200);
    expect(existsSync(join(ctx.berth.dataDir, 'workspaces', node.id))).toBe(false);
  });
});
