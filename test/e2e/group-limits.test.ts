/**
 * A group's clients are counted apart on its members (issue 13): each group session reaches the members with a
 * relay credential for its own client, so a member's per-token session cap counts each client on its own, not
 * all of the group's clients as one. Berth runs with BERTH_MAX_SESSIONS_PER_TOKEN=2 and no idle eviction: three
 * clients (three tokens) hold group sessions side by side, and a fourth session of one of those tokens is refused
 * at the group's own endpoint, as on any endpoint.
 */
import { describe, expect, it } from 'vitest';
import { connectV1, textOf } from '../support/clients.js';
import type { McpTestClient } from '../support/clients.js';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

const ctx = useBerth({ env: { BERTH_MAX_SESSIONS_PER_TOKEN: '2', BERTH_SESSION_EVICT_AFTER_S: '600' } });

async function token(scopes: string[]): Promise<Record<string, string>> {
  const r = await ctx.api.call<{ token: string }>('POST', '/api/tokens', { scopes });
  expect(r.status).toBe(201);
  return { authorization: `Bearer ${r.body.token}` };
}

describe('group clients on a member (e2e)', () => {
  it("counts each group client under its own token on the members, not the group's clients together", async () => {
    const member = await ctx.api.deploy(echoSpec('solo', [], { access: 'private' }, { env: { TAG: 'solo' } }));
    await ctx.api.waitFor(member.id);
    const made = await ctx.api.call('POST', '/api/groups', { name: 'trio', spec: { members: [{ deployment: 'solo' }] } });
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    const url = `${ctx.berth.url}/g/trio/mcp`;
    const tokens = [await token(['invoke:group:trio']), await token(['invoke:group:trio']), await token(['invoke:group:trio'])];
    const open: McpTestClient[] = [];
    try {
      // Three clients, each holding its group session and (through it) a member session: with one relay
      // principal for the whole group, the member would refuse the third (cap 2, nothing idle to evict).
      for (const [i, headers] of tokens.entries()) {
        const c = await connectV1(url, headers);
        open.push(c);
        expect(textOf(await c.call('solo__echo', { text: `client ${i}` }))).toBe(`client ${i}`);
      }
      for (const [i, c] of open.entries()) expect(textOf(await c.call('solo__env', { name: 'TAG' })), `client ${i}`).toBe('solo');
      // The cap still holds per token: the same token's second session is fine, its third is refused.
      open.push(await connectV1(url, tokens[0]!));
      await expect(connectV1(url, tokens[0]!)).rejects.toThrow(/too many|sessions/i);
    } finally {
      for (const c of open) await c.close();
    }
  });
});

