/**
 * Git sources and the catalog through a real Berth (process runtime). Git: a bare repository made here, with a
 * standard-library Python MCP server in a subdirectory at two tags, deployed by `berth deploy git+file://…#TAG:subdir`
 * and through the API; the commit is in the revision and in `berth history`; a bad ref and a bad subdirectory are
 * refused with their codes. Catalog: `berth catalog`, `berth deploy catalog:memory` (the real npm package) and its
 * tools called with the SDK client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentView, RevisionView } from '../../src/core/index.js';
import { gitAvailable, TestRepo } from '../../src/sources/git/testing/repo.js';
import { berthCli, endpointIn } from '../support/cli.js';
import { toolCaller } from '../support/sandbox.js';
import { startHttpUpstream } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

/** A stdio MCP server with only Python's standard library: one tool, `hello`, answering with GREETING. */
const server = (greeting: string): string => `import json, sys

def reply(id, result):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": id, "result": result}) + "\\n")
    sys.stdout.flush()

for line in sys.stdin:
    msg = json.loads(line)
    method, id = msg.get("method"), msg.get("id")
    if id is None:
        continue
    if method == "initialize":
        reply(id, {"protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}}, "serverInfo": {"name": "hello", "version": "1"}})
    elif method == "tools/list":
        reply(id, {"tools": [{"name": "hello", "description": "says hello", "inputSchema": {"type": "object"}}]})
    elif method == "tools/call":
        reply(id, {"content": [{"type": "text", "text": "${greeting}"}]})
    else:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no such method"}}) + "\\n")
        sys.stdout.flush()
`;

const ctx = useBerth({ env: { BERTH_GIT_ALLOW_FILE: 'true', BERTH_LOG_LEVEL: 'warn' } });

async function hello(d: DeploymentView): Promise<string> {
  const c = await toolCaller(d.endpoint, ctx.api.authHeaders());
  try {
    return await c.call('hello');
  } finally {
    await c.close();
  }
}

describe('catalog (e2e)', () => {
  it('lists and shows the built-in templates through the CLI, and refuses to remove one', async () => {
    const list = await berthCli(ctx.berth, ['catalog']);
    expect(list.code, list.stderr).toBe(0);
    for (const name of ['memory', 'filesystem', 'everything', 'time', 'fetch', 'deepwiki']) expect(list.stdout).toContain(name);
    const search = await berthCli(ctx.berth, ['catalog', 'search', 'knowledge']);
    expect(search.stdout).toContain('memory');
    expect(search.stdout).not.toContain('deepwiki');
    const show = await berthCli(ctx.berth, ['catalog', 'show', 'memory']);
    expect(show.stdout).toContain('npm @modelcontextprotocol/server-memory@');
    expect(show.stdout).toContain('MEMORY_FILE_PATH');
    const rm = await berthCli(ctx.berth, ['catalog', 'rm', 'memory']);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toContain('CATALOG_ENTRY_BUILTIN');
    const missing = await ctx.api.call<{ error: { code: string } }>('POST', '/api/catalog/nope/deploy', {});
    expect([missing.status, missing.body.error.code]).toEqual([404, 'CATALOG_ENTRY_NOT_FOUND']);
  });

  it('adds an operator template, refuses to deploy it without its required secret (named), and removes it', async () => {
    const added = await ctx.api.call<{ name: string }>('POST', '/api/catalog?name=hello-tpl', {
      name: 'com.example/hello',
      description: 'A template added by the operator',
      packages: [{ registryType: 'npm', identifier: '@example/hello', transport: { type: 'stdio' }, environmentVariables: [{ name: 'API_KEY', isRequired: true, isSecret: true }] }],
    });
    expect([added.status, added.body.name]).toEqual([201, 'hello-tpl']);
    // A required secret left out is named before anything is installed.
    const refused = await ctx.api.call<{ error: { code: string; message: string } }>('POST', '/api/catalog/hello-tpl/deploy', {});
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toContain('API_KEY');
    const rm = await berthCli(ctx.berth, ['catalog', 'rm', 'hello-tpl']);
    expect(rm.code, rm.stderr).toBe(0);
    expect((await ctx.api.call('GET', '/api/catalog/hello-tpl')).status).toBe(404);
  });

  it('deploys a remote template through the API: its secret header is stored as a secret, sent to the remote, never shown', { timeout: 120_000 }, async () => {
    const upstream = await startHttpUpstream({ EXPECTED_AUTH: 'Bearer remote-secret-0042' });
    try {
      const added = await ctx.api.call('POST', '/api/catalog?name=remote-tpl', {
        name: 'com.example/remote',
        description: 'A remote MCP server that wants a bearer token',
        remotes: [{ type: 'streamable-http', url: upstream.url, headers: [{ name: 'Authorization', isRequired: true, isSecret: true, description: 'Bearer TOKEN' }] }],
      });
      expect(added.status).toBe(201);
      const missing = await ctx.api.call<{ error: { message: string } }>('POST', '/api/catalog/remote-tpl/deploy', {});
      expect(missing.body.error.message).toContain('the header Authorization (secret: --secret Authorization)');
      const made = await ctx.api.call<DeploymentView>('POST', '/api/catalog/remote-tpl/deploy', { name: 'remote-one', secrets: { Authorization: 'Bearer remote-secret-0042' } });
      expect(made.status).toBe(201);
      expect(made.body.spec).toMatchObject({ type: 'url', endpoint: upstream.url, headers: { Authorization: `secret_ref:${made.body.id}:HEADER_AUTHORIZATION` } });
      expect(JSON.stringify(made.body)).not.toContain('remote-secret-0042');
      await ctx.api.waitFor(made.body.id, 'running', 60_000);
      const c = await toolCaller(made.body.endpoint, ctx.api.authHeaders());
      try {
        expect(await c.call('echo', { text: 'through a catalog remote' })).toBe('through a catalog remote');
      } finally {
        await c.close();
      }
    } finally {
      upstream.proc.kill();
    }
  });

  it('deploys catalog:memory (the npm package) with berth deploy, and an SDK client calls its tools', { timeout: 240_000 }, async () => {
    const r = await berthCli(ctx.berth, ['deploy', 'catalog:memory', '--name', 'kg', '--timeout', '200'], 230_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const endpoint = endpointIn(r.stdout);
    const d = await ctx.api.call<DeploymentView>('GET', '/api/deployments/kg');
    expect(d.body).toMatchObject({ name: 'kg', tags: ['catalog:memory'], spec: { type: 'package', registry: 'npm', name: '@modelcontextprotocol/server-memory' } });
    expect(d.body.env_schema).toContainEqual(expect.objectContaining({ name: 'MEMORY_FILE_PATH', default: '/tmp/memory.jsonl' }));
    const c = await toolCaller(endpoint, ctx.api.authHeaders());
    try {
      await c.call('create_entities', { entities: [{ name: 'berth', entityType: 'project', observations: ['deployed from the catalog'] }] });
      expect(await c.call('read_graph')).toContain('deployed from the catalog');
    } finally {
      await c.close();
    }
  });
});

if (gitAvailable('git sources (e2e)', it)) {
  describe('git sources (e2e)', () => {
    let repo: TestRepo;
    const commits: Record<string, string> = {};

    beforeAll(() => {
      repo = new TestRepo();
      repo.commit({ 'README.md': '# tools\n' }, 'start');
      commits.v1 = repo.commit({ 'servers/hello/server.py': server('hello from v1') }, 'v1');
      repo.tag('v1');
      repo.branch('next');
      commits.v2 = repo.commit({ 'servers/hello/server.py': server('hello from v2') }, 'v2');
      repo.tag('v2');
      repo.push();
    });
    afterAll(() => repo?.remove());

    it('berth deploy git+file://…#v1:servers/hello runs that commit; history shows it', { timeout: 200_000 }, async () => {
      const r = await berthCli(ctx.berth, ['deploy', `git+${repo.fileUrl}#v1:servers/hello`, '--name', 'hello-git', '--timeout', '150'], 180_000);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const d = (await ctx.api.call<DeploymentView>('GET', '/api/deployments/hello-git')).body;
      expect(d.spec).toMatchObject({ type: 'source', source: { kind: 'git', url: repo.fileUrl, ref: 'v1', subdir: 'servers/hello', commit: commits.v1 } });
      expect(await hello(d)).toBe('hello from v1');
      const revs = (await ctx.api.call<{ items: RevisionView[] }>('GET', '/api/deployments/hello-git/revisions')).body.items;
      expect(revs[0]?.spec).toMatchObject({ source: { commit: commits.v1 } });
      const history = await berthCli(ctx.berth, ['history', 'hello-git']);
      expect(history.stdout).toContain(`@${commits.v1!.slice(0, 12)}`);
    });

    it('through the API: another tag, then an update to a branch makes a revision with its commit', { timeout: 200_000 }, async () => {
      const d = await ctx.api.deploy({ name: 'hello-api', spec: { type: 'source', source: { kind: 'git', url: repo.fileUrl, ref: 'v2', subdir: 'servers/hello' } } });
      expect(d.spec).toMatchObject({ source: { commit: commits.v2 } });
      await ctx.api.waitFor(d.id, 'running', 150_000);
      expect(await hello(d)).toBe('hello from v2');
      const patched = await ctx.api.call<DeploymentView>('PATCH', `/api/deployments/${d.id}`, { spec: { source: { ref: 'next' } } });
      expect(patched.status).toBe(202);
      expect(patched.body.spec).toMatchObject({ source: { ref: 'next', commit: commits.v1 } });
    });

    it('names a bad ref and a bad subdirectory', async () => {
      const badRef = await ctx.api.call<{ error: { code: string } }>('POST', '/api/deployments', { name: 'bad-ref', spec: { type: 'source', source: { kind: 'git', url: repo.fileUrl, ref: 'v9', subdir: 'servers/hello' } } });
      expect([badRef.status, badRef.body.error.code]).toEqual([400, 'GIT_REF_NOT_FOUND']);
      const badDir = await berthCli(ctx.berth, ['deploy', `git+${repo.fileUrl}#v1:servers/nope`, '--name', 'bad-dir']);
      expect(badDir.code).not.toBe(0);
      expect(badDir.stderr).toContain('GIT_SUBDIR_NOT_FOUND');
    });
  });
}
