import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createIsolatedBridge } from '../bridge/isolated.js';
import { createSharedBridge } from '../bridge/shared.js';
import { exactOrigin } from '../remote/exact-origin.js';
import { StreamableChannel } from '../remote/streamable-channel.js';
import { RemoteHttp } from '../remote/wire.js';
import { fileURLToPath } from 'node:url';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ECHO_SERVER, FAST_RESTART, LIMITS, nodeSpawner, serveEndpoint, textOf } from '../testing/helpers.js';
import { GroupChannel, type GroupView } from './channel.js';

// A group of one real member (our echo server behind a shared bridge, over HTTP as Berth reaches members), with
// the group's channel behind an isolated bridge as GroupHub puts it, and the SDK's client in front.
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const ASKING_SERVER = fileURLToPath(new URL('../testing/mcp-asking-server.mjs', import.meta.url));

async function setup(view: GroupView, opts: { script?: string; client?: Client } = {}): Promise<{ client: Client; memberCalls: string[] }> {
  const memberCalls: string[] = [];
  const spawner = nodeSpawner(opts.script ?? ECHO_SERVER);
  const memberOpts = { deploymentId: 'm', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS, events: { onClientRequest: (m: string) => memberCalls.push(m) } };
  // Our echo server shares a process; the asking server runs isolated, so only the group's own bound applies.
  const member = opts.script ? createIsolatedBridge({ ...memberOpts, isolated: { warm: 0, maxWarm: 0, max: 4, prime: false } }) : createSharedBridge(memberOpts);
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => member.close());
  await member.start();
  const memberFront = await serveEndpoint(member);
  cleanups.push(() => memberFront.close());
  const http = new RemoteHttp(memberFront.url, {}, 10_000, exactOrigin(memberFront.url));
  cleanups.push(() => http.close());
  const group = createIsolatedBridge({
    deploymentId: 'group-g',
    spawn: (key) => Promise.resolve(new GroupChannel({ key, view: () => view, openMember: (_id, k) => new StreamableChannel({ http, key: k }) })),
    restart: FAST_RESTART,
    limits: LIMITS,
    isolated: { warm: 0, maxWarm: 0, max: 8, prime: false },
  });
  cleanups.push(() => group.close());
  await group.start();
  const front = await serveEndpoint(group);
  cleanups.push(() => front.close());
  const client = opts.client ?? new Client({ name: 'group-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(front.url)));
  cleanups.push(() => client.close());
  return { client, memberCalls };
}

const VIEW: GroupView = { name: 'g', separator: '__', failureMode: 'open', toolSearch: 'only', members: [{ deploymentId: 'm', name: 'echo', member: { deployment: 'm', deny: [], rename: {}, descriptions: {} } }] };

const search = async (client: Client, query: string): Promise<string[]> =>
  (JSON.parse(textOf(await client.callTool({ name: 'search_tools', arguments: { query, k: 50 } }))) as { name: string }[]).map((t) => t.name);

describe('group channel: search_tools', () => {
  it("lists the members once for many searches, and again after a member's tools/list_changed", async () => {
    const { client, memberCalls } = await setup(VIEW);
    const lists = (): number => memberCalls.filter((m) => m === 'tools/list').length;
    expect(await search(client, 'echo text back')).toContain('echo__echo');
    expect(await search(client, 'environment variable')).toContain('echo__env');
    expect(await search(client, 'register a tool')).toContain('echo__add_tool');
    expect(lists()).toBe(1);
    // The member adds a tool and says so: the next search sees it.
    expect(textOf(await client.callTool({ name: 'call_tool', arguments: { name: 'echo__add_tool', arguments: {} } }))).toBe('extra_1');
    await expect.poll(async () => search(client, 'added at run time'), { timeout: 5000 }).toContain('echo__extra_1');
    expect(lists()).toBe(2);
  });
});

describe("group channel: a member's requests to the client", () => {
  it('lets at most 1000 wait for the client in one session; the next is refused back to the member at once', async () => {
    const client = new Client({ name: 'slow-sampler', version: '1' }, { capabilities: { sampling: {} } });
    let asked = 0;
    // A client that never answers: every request stays waiting.
    client.setRequestHandler(CreateMessageRequestSchema, () => {
      asked++;
      return new Promise(() => {});
    });
    await setup({ ...VIEW, toolSearch: 'off' }, { script: ASKING_SERVER, client });
    const r = await client.callTool({ name: 'echo__ask_many', arguments: { count: 1001 } }, undefined, { timeout: 20_000 });
    expect(textOf(r)).toMatch(/^refused ask-\d+-1001: .*1000 requests of this group's members to answer already/);
    await expect.poll(() => asked, { timeout: 5000 }).toBe(1000);
  }, 30_000);
});
