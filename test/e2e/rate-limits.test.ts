// Rate limits per token and per deployment against a real Berth from dist/: over the limit, MCP routes answer 429
// with Retry-After and a JSON-RPC error whose data.code is RATE_LIMITED; the API answers 429 in its REST error shape.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { httpCall, mcpCall, openSession, type CallResult } from '../support/raw-http.js';
import { echoSpec } from '../support/servers.js';

const PER_TOKEN = 20;

interface Ctx {
  berth: BerthProcess;
  api: TestApi;
}

function berthWith(env: Record<string, string>): Ctx {
  const ctx = {} as Ctx;
  beforeAll(async () => {
    ctx.berth = await startBerth({ env });
    ctx.api = new TestApi(ctx.berth.url, ctx.berth.token);
  });
  afterAll(async () => {
    await ctx.berth?.dispose();
  });
  return ctx;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `n` requests at once; the answers. */
const burst = (n: number, one: () => Promise<CallResult>): Promise<CallResult[]> => Promise.all(Array.from({ length: n }, one));

describe('per token', () => {
  const ctx = berthWith({ BERTH_RATE_PER_TOKEN: String(PER_TOKEN), BERTH_BURST_PER_TOKEN: String(PER_TOKEN) });

  it('an MCP client over its rate gets 429 with Retry-After and a JSON-RPC RATE_LIMITED error; the API counts apart', async () => {
    const d = await ctx.api.deploy(echoSpec('rated'));
    await ctx.api.waitFor(d.id);
    const auth = ctx.berth.authHeaders();
    await pause(1_500); // the API calls above and the MCP calls below are counted apart, but start full anyway
    const sid = await openSession(d.endpoint, auth);
    const answers = await burst(3 * PER_TOKEN, () => mcpCall(d.endpoint, auth, sid, { jsonrpc: '2.0', id: 1, method: 'ping' }));
    const ok = answers.filter((a) => a.status === 200).length;
    const limited = answers.filter((a) => a.status === 429);
    expect(ok).toBeGreaterThanOrEqual(PER_TOKEN - 2 - 1);
    expect(ok).toBeLessThanOrEqual(PER_TOKEN + 5);
    expect(limited.length).toBeGreaterThan(0);
    expect(Number(limited[0]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(limited[0]!.text)).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32015, data: { code: 'RATE_LIMITED' } } });
    expect(JSON.parse(limited[0]!.text).error.message).toContain('this token');

    // The API is counted apart: it is not throttled by the MCP burst above.
    expect((await ctx.api.call('GET', '/api/deployments')).status).toBe(200);
    // After a second the bucket has refilled.
    await pause(1_100);
    expect((await mcpCall(d.endpoint, auth, sid, { jsonrpc: '2.0', id: 2, method: 'ping' })).status).toBe(200);
  });

  it('an API client over its rate gets 429 with Retry-After in the REST error shape; /healthz is never limited', async () => {
    await pause(1_100);
    const auth = ctx.berth.authHeaders();
    const answers = await burst(3 * PER_TOKEN, () => httpCall(`${ctx.berth.url}/api/deployments`, { headers: auth }));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(Number(limited[0]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(limited[0]!.text)).toMatchObject({ error: { code: 'RATE_LIMITED', details: { retryAfterS: expect.any(Number) } } });
    const health = await burst(3 * PER_TOKEN, () => httpCall(`${ctx.berth.url}/healthz`, { headers: auth }));
    expect(health.every((h) => h.status === 200)).toBe(true);
  });
});

describe('per deployment', () => {
  const ctx = berthWith({ BERTH_RATE_PER_TOKEN: '0', BERTH_RATE_PER_DEPLOYMENT: '10', BERTH_BURST_PER_DEPLOYMENT: '10' });

  it('a deployment over its rate answers 429 while another deployment is served', async () => {
    const hot = await ctx.api.deploy(echoSpec('hot'));
    const calm = await ctx.api.deploy(echoSpec('calm'));
    await ctx.api.waitFor(hot.id);
    await ctx.api.waitFor(calm.id);
    const auth = ctx.berth.authHeaders();
    const hotSid = await openSession(hot.endpoint, auth);
    const calmSid = await openSession(calm.endpoint, auth);
    const answers = await burst(40, () => mcpCall(hot.endpoint, auth, hotSid, { jsonrpc: '2.0', id: 1, method: 'ping' }));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(20);
    expect(JSON.parse(limited[0]!.text).error.message).toContain(`deployment ${hot.id}`);
    expect((await mcpCall(calm.endpoint, auth, calmSid, { jsonrpc: '2.0', id: 1, method: 'ping' })).status).toBe(200);
  });
});
