/**
 * Groups through a real Berth (issue 13, first part): two real stdio MCP servers of our own behind one endpoint,
 * /g/NAME/mcp, with the MCP SDK clients (1.x and 2.x). Names are merged collision-free (`member__tool`), allow/deny
 * and renames apply, each call reaches exactly the member that owns the name (each server tells its own TAG),
 * a scoped token `invoke:group:NAME` reaches the members only through the group, a stopped member is left out of
 * the lists (failure mode open) and named in the group's troubles, or fails them (closed).
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { DeploymentView } from '../../src/core/index.js';
import { ROOT } from '../support/berth-process.js';
import { berthCli } from '../support/cli.js';
import { connectV1, connectV2, textOf } from '../support/clients.js';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

const ctx = useBerth();

async function token(scopes: string[]): Promise<Record<string, string>> {
  const r = await ctx.api.call<{ token: string }>('POST', '/api/tokens', { scopes });
  expect(r.status).toBe(201);
  return { authorization: `Bearer ${r.body.token}` };
}

describe('groups (e2e)', () => {
  const members: Record<string, DeploymentView> = {};

  it('creates a group of two deployments; its endpoint lists both under prefixes, with allow/deny and renames applied', async () => {
    for (const name of ['alpha', 'beta']) {
      // Private: the group reaches them with its relay credential, a client without their scope does not.
      members[name] = await ctx.api.deploy(echoSpec(name, [], { access: 'private' }, { env: { TAG: name } }));
      await ctx.api.waitFor(members[name].id);
    }
    const made = await ctx.api.call<{ name: string; endpoint: string; members: { name: string; prefix: string }[] }>('POST', '/api/groups', {
      name: 'pair',
      spec: { members: [{ deployment: 'alpha', rename: { whoami: 'alpha_pid' } }, { deployment: 'beta', deny: ['slow'], descriptions: { echo: 'Beta says it back' } }] },
    });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ name: 'pair', endpoint: '/g/pair/mcp', members: [{ name: 'alpha', prefix: 'alpha' }, { name: 'beta', prefix: 'beta' }] });

    const c = await connectV1(`${ctx.berth.url}/g/pair/mcp`, ctx.berth.authHeaders());
    try {
      const names = await c.listToolNames();
      expect(names).toContain('alpha__echo');
      expect(names).toContain('beta__echo');
      expect(names).toContain('alpha_pid'); // renamed: no prefix
      expect(names).not.toContain('alpha__whoami');
      expect(names).toContain('alpha__slow');
      expect(names).not.toContain('beta__slow'); // denied
      expect(textOf(await c.call('beta__echo', { text: 'through the group' }))).toBe('through the group');
    } finally {
      await c.close();
    }
  });

  it('sends each call to exactly the member that owns the name, for concurrent sessions of both SDKs', async () => {
    const clients = [await connectV1(`${ctx.berth.url}/g/pair/mcp`, ctx.berth.authHeaders()), await connectV2(`${ctx.berth.url}/g/pair/mcp`, ctx.berth.authHeaders())];
    try {
      const answers = await Promise.all(
        clients.flatMap((c, i) =>
          Array.from({ length: 10 }, async (_, n) => {
            const [alpha, beta] = [textOf(await c.call('alpha__env', { name: 'TAG' })), textOf(await c.call('beta__env', { name: 'TAG' }))];
            const echoed = textOf(await c.call(n % 2 ? 'alpha__echo' : 'beta__echo', { text: `${c.sdk}-${i}-${n}` }));
            return { alpha, beta, echoed, want: `${c.sdk}-${i}-${n}` };
          }),
        ),
      );
      for (const a of answers) {
        expect(a.alpha).toBe('alpha');
        expect(a.beta).toBe('beta');
        expect(a.echoed).toBe(a.want);
      }
      // A name no member owns is an error, not a guess.
      await expect(clients[0]!.call('whoami')).rejects.toThrow(/Unknown tool: whoami/);
    } finally {
      for (const c of clients) await c.close();
    }
  });

  it('a token scoped invoke:group:pair reaches the members through the group only; one scoped to a member is refused by the group', async () => {
    const groupOnly = await token(['invoke:group:pair']);
    const c = await connectV2(`${ctx.berth.url}/g/pair/mcp`, groupOnly);
    try {
      expect(textOf(await c.call('alpha__echo', { text: 'scoped' }))).toBe('scoped');
    } finally {
      await c.close();
    }
    const direct = await fetch(members.alpha!.endpoint, { method: 'POST', headers: { ...groupOnly, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }) });
    expect(direct.status).toBe(403);
    const memberOnly = await token([`invoke:${members.alpha!.id}`]);
    const refused = await fetch(`${ctx.berth.url}/g/pair/mcp`, { method: 'POST', headers: { ...memberOnly, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }) });
    expect(refused.status).toBe(403);
    const unknown = await fetch(`${ctx.berth.url}/g/nope/mcp`, { method: 'POST', headers: { ...ctx.berth.authHeaders(), 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { data?: { code?: string } } }).error.data?.code).toBe('GROUP_NOT_FOUND');
  });

  it('a stopped member is left out of the lists and named in the troubles (failure mode open); failure mode closed fails the listing', async () => {
    const stopped = await ctx.api.call('POST', `/api/deployments/${members.beta!.id}/stop`);
    expect(stopped.status).toBeLessThan(300);
    const c = await connectV1(`${ctx.berth.url}/g/pair/mcp`, ctx.berth.authHeaders());
    try {
      const names = await c.listToolNames();
      expect(names).toContain('alpha__echo');
      expect(names.some((n) => n.startsWith('beta__'))).toBe(false);
      const g = await ctx.api.call<{ troubles: Record<string, string> }>('GET', '/api/groups/pair');
      expect(Object.keys(g.body.troubles)).toEqual([members.beta!.id]);
      // Back on its feet, the member is in the same session's next listing (a refusal is not remembered).
      expect((await ctx.api.call('POST', `/api/deployments/${members.beta!.id}/start`)).status).toBeLessThan(300);
      await ctx.api.waitFor(members.beta!.id);
      expect(await c.listToolNames()).toContain('beta__echo');
      expect((await ctx.api.call<{ troubles: Record<string, string> }>('GET', '/api/groups/pair')).body.troubles).toEqual({});
      await ctx.api.call('POST', `/api/deployments/${members.beta!.id}/stop`);
    } finally {
      await c.close();
    }
    const closed = await ctx.api.call('PATCH', '/api/groups/pair', { spec: { members: [{ deployment: 'alpha' }, { deployment: 'beta' }], failure_mode: 'closed' } });
    expect(closed.status, JSON.stringify(closed.body)).toBe(200);
    const c2 = await connectV1(`${ctx.berth.url}/g/pair/mcp`, ctx.berth.authHeaders());
    try {
      await expect(c2.listToolNames()).rejects.toThrow(/failure_mode closed/);
    } finally {
      await c2.close();
    }
  });

  it('refuses bad groups with stable codes: an unknown member, a shared prefix, a taken name; removes a group', async () => {
    const unknown = await ctx.api.call<{ error: { code: string; message: string } }>('POST', '/api/groups', { name: 'bad', spec: { members: [{ deployment: 'no-such-server' }] } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/no deployment "no-such-server"/);
    const shared = await ctx.api.call<{ error: { message: string } }>('POST', '/api/groups', { name: 'bad', spec: { members: [{ deployment: 'alpha', prefix: 'x' }, { deployment: 'beta', prefix: 'x' }] } });
    expect(shared.status).toBe(400);
    expect(shared.body.error.message).toMatch(/share the prefix "x"/);
    const taken = await ctx.api.call<{ error: { code: string } }>('POST', '/api/groups', { name: 'pair', spec: { members: [{ deployment: 'alpha' }] } });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('GROUP_EXISTS');
    expect((await ctx.api.call('DELETE', '/api/groups/pair')).status).toBe(204);
    expect((await ctx.api.call('GET', '/api/groups/pair')).status).toBe(404);
  });

  it('berth group create / ls / show / update / rm from the CLI', async () => {
    const made = await berthCli(ctx.berth, ['group', 'create', 'cli-pair', '--server', 'alpha', '--server', 'beta', '--deny', 'beta=slow', '--prefix', 'alpha=a']);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toContain(`${ctx.berth.url}/g/cli-pair/mcp`);
    expect(made.stdout).toMatch(/^alpha\s+a\s+-\s+all\s+ok$/m);
    expect(made.stdout).toMatch(/^beta\s+beta\s+slow\s+all/m);
    expect(made.stdout).toContain('berth tokens create --scope invoke:group:cli-pair');
    const c = await connectV2(`${ctx.berth.url}/g/cli-pair/mcp`, ctx.berth.authHeaders());
    try {
      expect(textOf(await c.call('a__echo', { text: 'via the CLI group' }))).toBe('via the CLI group');
    } finally {
      await c.close();
    }
    const ls = await berthCli(ctx.berth, ['group', 'ls']);
    expect(ls.stdout).toMatch(/^cli-pair\s+alpha, beta\s+private/m);
    const bad = await berthCli(ctx.berth, ['group', 'update', 'cli-pair', '--server', 'alpha', '--deny', 'gamma=x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/gamma is not one of the --server members/);
    const upd = await berthCli(ctx.berth, ['group', 'update', 'cli-pair', '--server', 'alpha']);
    expect(upd.code, upd.stderr).toBe(0);
    const show = await berthCli(ctx.berth, ['group', 'show', 'cli-pair', '--json']);
    expect((JSON.parse(show.stdout) as { members: { name: string }[] }).members.map((m) => m.name)).toEqual(['alpha']);
    const rm = await berthCli(ctx.berth, ['group', 'rm', 'cli-pair']);
    expect(rm.code).toBe(0);
    const gone = await berthCli(ctx.berth, ['group', 'show', 'cli-pair']);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/GROUP_NOT_FOUND/);
  });

  it('tool search: a group with tool_search only lists search_tools and call_tool; search finds the right tool by what it does, call_tool runs it', async () => {
    const everything = await ctx.api.deploy({ name: 'everything', spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'], env: {}, cwd: ROOT } });
    await ctx.api.waitFor(everything.id);
    const made = await ctx.api.call('POST', '/api/groups', { name: 'finder', spec: { members: [{ deployment: 'alpha' }, { deployment: 'everything' }], tool_search: 'only' } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const c = await connectV1(`${ctx.berth.url}/g/finder/mcp`, ctx.berth.authHeaders());
    try {
      expect((await c.listToolNames()).sort()).toEqual(['call_tool', 'search_tools']);
      const found = JSON.parse(textOf(await c.call('search_tools', { query: 'add two numbers', k: 3 }))) as { name: string; inputSchema: unknown }[];
      expect(found[0]!.name).toBe('everything__get-sum');
      expect(found[0]!.inputSchema).toMatchObject({ properties: { a: {}, b: {} } });
      expect(textOf(await c.call('call_tool', { name: 'everything__get-sum', arguments: { a: 2, b: 3 } }))).toMatch(/\b5\b/);
      const env = JSON.parse(textOf(await c.call('search_tools', { query: 'environment variable', k: 2 }))) as { name: string }[];
      expect(env.map((t) => t.name)).toContain('alpha__env');
      expect(textOf(await c.call('call_tool', { name: 'alpha__env', arguments: { name: 'TAG' } }))).toBe('alpha');
      const bad = (await c.call('call_tool', {})) as { isError?: boolean };
      expect(bad.isError).toBe(true);
    } finally {
      await c.close();
    }
    expect((await ctx.api.call('PATCH', '/api/groups/finder', { spec: { members: [{ deployment: 'alpha' }, { deployment: 'everything' }], tool_search: 'also' } })).status).toBe(200);
    const c2 = await connectV2(`${ctx.berth.url}/g/finder/mcp`, ctx.berth.authHeaders());
    try {
      const names = await c2.listToolNames();
      expect(names).toContain('search_tools');
      expect(names).toContain('everything__get-sum');
    } finally {
      await c2.close();
    }
  }, 60_000);

  it("a member's requests to the client (sampling), progress and cancellation flow through the group; a name two members would show goes to the first", async () => {
    const ev = await ctx.api.deploy({ name: 'ev', spec: { type: 'process', command: process.execPath, args: [join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'], env: {}, cwd: ROOT, mode: 'isolated', isolated: { warm: 0, max_sessions: 8 } } });
    await ctx.api.waitFor(ev.id);
    // alpha's echo is renamed onto ev's own echo name: the first member (ev) keeps it.
    const made = await ctx.api.call('POST', '/api/groups', { name: 'relay', spec: { members: [{ deployment: 'ev' }, { deployment: 'alpha', rename: { echo: 'ev__echo' } }] } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const client = new Client({ name: 'sampler', version: '1.0.0' }, { capabilities: { sampling: {} } });
    const prompts: string[] = [];
    client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      const first = req.params.messages[0]?.content as { type: string; text?: string };
      prompts.push(first.text ?? '');
      return { model: 'stand-in-model', role: 'assistant', content: { type: 'text', text: `sampled: ${first.text ?? ''}` } };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${ctx.berth.url}/g/relay/mcp`), { requestInit: { headers: ctx.berth.authHeaders() } }));
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names.filter((n) => n === 'ev__echo')).toHaveLength(1);
      const echoed = await client.callTool({ name: 'ev__echo', arguments: { message: 'whose?' } });
      expect(JSON.stringify(echoed)).toContain('Echo: whose?'); // server-everything's answer, not alpha's
      const sampled = await client.callTool({ name: 'ev__trigger-sampling-request', arguments: { prompt: 'through the group', maxTokens: 5 } });
      expect(prompts).toHaveLength(1);
      expect(prompts[0]).toContain('through the group');
      expect(JSON.stringify(sampled)).toContain('stand-in-model'); // the answer our client gave reached the server
      const progress: number[] = [];
      await client.callTool({ name: 'ev__trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
      expect(progress).toEqual([1, 2, 3]);
      const ac = new AbortController();
      const cancelled = client.callTool({ name: 'ev__trigger-long-running-operation', arguments: { duration: 30, steps: 30 } }, undefined, { signal: ac.signal });
      setTimeout(() => ac.abort(), 300);
      await expect(cancelled).rejects.toThrow(/abort/i);
      // The session goes on after the cancellation.
      expect(JSON.stringify(await client.callTool({ name: 'ev__get-sum', arguments: { a: 20, b: 22 } }))).toContain('42');
    } finally {
      await client.close();
    }
  }, 60_000);

  it('listing a group does not wake a member scaled to zero; a call wakes that member only', async () => {
    const sleepy = await ctx.api.deploy(echoSpec('sleepy', [], {}, { scale: { min: 0, idle_s: 1 }, env: { TAG: 'sleepy' } }));
    await ctx.api.waitFor(sleepy.id);
    const deadline = Date.now() + 30_000;
    while ((await ctx.api.status(sleepy.id)).status !== 'idle') {
      if (Date.now() > deadline) throw new Error('the member never went idle');
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await ctx.api.call('POST', '/api/groups', { name: 'lazy', spec: { members: [{ deployment: 'sleepy' }, { deployment: 'alpha' }] } })).status).toBe(201);
    const c = await connectV2(`${ctx.berth.url}/g/lazy/mcp`, ctx.berth.authHeaders());
    try {
      expect(await c.listToolNames()).toContain('sleepy__echo');
      // Its own bridge answered the group's session from its snapshot: no process started.
      expect(await ctx.api.status(sleepy.id)).toMatchObject({ status: 'idle', processes: 0 });
      // A call needs the server: it wakes (its answer is the proof; it may sleep again a second later).
      expect(textOf(await c.call('sleepy__env', { name: 'TAG' }))).toBe('sleepy');
    } finally {
      await c.close();
    }
  }, 60_000);
});
