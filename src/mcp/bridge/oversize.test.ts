import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { createIsolatedBridge } from './isolated.js';
import { createSharedBridge } from './shared.js';
import { RESPONSE_TOO_LARGE } from '../wire/jsonrpc.js';
import type { BridgeOptions, McpEndpoint } from '../types.js';
import { ECHO_SERVER, FAST_RESTART, LIMITS, RAW_SERVER, nodeSpawner, serveEndpoint, textOf, waitFor } from '../testing/helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Mode = 'shared' | 'isolated';
const MAX_LINE = 256 * 1024;

async function setup(mode: Mode, script: string, env: Record<string, string> = {}, over: Partial<BridgeOptions> = {}): Promise<{ client: Client; bridge: McpEndpoint; logs: string[] }> {
  const spawner = nodeSpawner(script, [], env);
  const logs: string[] = [];
  const base = { deploymentId: 'big', spawn: spawner.spawn, restart: FAST_RESTART, limits: LIMITS, maxLineBytes: MAX_LINE, log: (l: string) => logs.push(l), ...over };
  const bridge = mode === 'shared' ? createSharedBridge(base) : createIsolatedBridge({ ...base, isolated: { warm: 1, max: 2 } });
  cleanups.push(() => spawner.stopAll());
  cleanups.push(() => bridge.close());
  await bridge.start();
  const front = await serveEndpoint(bridge);
  cleanups.push(() => front.close());
  const client = new Client({ name: 'big', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(front.url)));
  cleanups.push(() => client.close());
  return { client, bridge, logs };
}

/** The call's JSON-RPC error and how long it took. */
async function failing(p: Promise<unknown>): Promise<{ err: McpError; ms: number }> {
  const t0 = Date.now();
  const err = await p.then(
    () => new Error('expected the call to fail'),
    (e: unknown) => e,
  );
  if (!(err instanceof McpError)) throw err;
  return { err, ms: Date.now() - t0 };
}

for (const mode of ['shared', 'isolated'] as const) {
  describe(`an oversize stdout line (${mode} bridge)`, () => {
    it('fails the request it answers at once when the id comes first', async () => {
      const h = await setup(mode, RAW_SERVER, { BIG_BYTES: String(2 * MAX_LINE) });
      const { err, ms } = await failing(h.client.callTool({ name: 'big', arguments: {} }));
      expect(err.code).toBe(RESPONSE_TOO_LARGE);
      // Sent as soon as the line went over the limit (its size was not known yet).
      expect(err.message).toContain(`more than ${MAX_LINE} bytes`);
      expect(err.data).toEqual({ maxLineBytes: MAX_LINE });
      expect(ms).toBeLessThan(LIMITS.requestTimeoutMs / 2);
      // The log line comes when the line ends, which may be after the client had its answer.
      await waitFor(() => h.logs.some((l) => l.includes('dropped a stdout line of') && l.includes('a response with id')), 5000, 'the log line');
    });

    it('fails the request it answers when the id comes last (SDK servers), and carries on', async () => {
      const h = await setup(mode, ECHO_SERVER);
      const { err, ms } = await failing(h.client.callTool({ name: 'big', arguments: { n: 2 * MAX_LINE } }));
      expect(err.code).toBe(RESPONSE_TOO_LARGE);
      expect(err.data).toMatchObject({ maxLineBytes: MAX_LINE, bytes: expect.any(Number) as number });
      expect((err.data as { bytes: number }).bytes).toBeGreaterThan(2 * MAX_LINE);
      expect(ms).toBeLessThan(LIMITS.requestTimeoutMs / 2);
      expect(textOf(await h.client.callTool({ name: 'echo', arguments: { text: 'after' } }))).toBe('after');
      expect(h.bridge.stats().inFlight).toBe(0);
    });
  });
}

describe('an oversize stdout line without a readable id', () => {
  it('isolated: fails the one request in flight on that process', async () => {
    const h = await setup('isolated', RAW_SERVER, { BIG_BYTES: String(2 * MAX_LINE) });
    const { err, ms } = await failing(h.client.callTool({ name: 'bigbatch', arguments: {} }));
    expect(err.code).toBe(RESPONSE_TOO_LARGE);
    expect(ms).toBeLessThan(LIMITS.requestTimeoutMs / 2);
  });

  it('shared: cannot tell whose it is, so the request ends in the request timeout', async () => {
    const h = await setup('shared', RAW_SERVER, { BIG_BYTES: String(2 * MAX_LINE) }, { limits: { ...LIMITS, requestTimeoutMs: 1500 } });
    const { err } = await failing(h.client.callTool({ name: 'bigbatch', arguments: {} }));
    expect(err.code).toBe(-32001);
    expect(h.logs.some((l) => l.includes('a message without a readable id'))).toBe(true);
  });
});
