// BERTH_REPLAY_EVENTS reaches the sessions of a real Berth: a session with no GET stream open keeps only
// that many of the messages meant for it, logs the drop once, and a GET then gets the newest ones.
import { describe, expect, it } from 'vitest';
import { openGetStream, rawInitialize, rawPost, waitFor } from '../../src/mcp/testing/helpers.js';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

const KEEP = 2;
const ctx = useBerth({ env: { BERTH_REPLAY_EVENTS: String(KEEP) } });

const callTool = async (url: string, sid: string, id: number, name: string): Promise<void> => {
  const res = await rawPost(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }, { 'mcp-session-id': sid });
  expect(res.status).toBe(200);
  await res.text();
};

describe('replay log caps from the configuration', () => {
  it(`a session away from its GET stream keeps the newest ${KEEP} list_changed notifications and the drop is logged`, async () => {
    const d = await ctx.api.deploy(echoSpec('replay-caps'));
    await ctx.api.waitFor(d.id);
    const away = await rawInitialize(d.endpoint);
    const caller = await rawInitialize(d.endpoint);
    const ADDED = 5;
    // Each add_tool makes the server broadcast notifications/tools/list_changed to every session.
    for (let i = 0; i < ADDED; i++) await callTool(d.endpoint, caller, 10 + i, 'add_tool');

    const logs = await ctx.api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${d.id}/logs?tail=100`);
    const full = logs.body.items.filter((e) => e.line.includes('replay log is full'));
    expect(full.map((e) => e.line)).toEqual(expect.arrayContaining([expect.stringContaining(`(${KEEP} messages / 65536 bytes)`)]));

    const get = await openGetStream(d.endpoint, away);
    expect(get.status).toBe(200);
    await waitFor(() => get.messages.length >= KEEP, 5000, `${KEEP} kept messages`);
    await new Promise((r) => setTimeout(r, 200)); // nothing more than the cap may follow
    get.close();
    expect(get.messages).toHaveLength(KEEP);
    expect(get.messages.every((m) => (m as { method?: string }).method === 'notifications/tools/list_changed')).toBe(true);
    expect(get.text()).toMatch(new RegExp(`${ADDED - KEEP} message\\(s\\) after event \\S+ were dropped`));
  });
});
