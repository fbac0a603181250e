/**
 * The SSRF guard for url deployments, end to end: a Berth that allows only one loopback address
 * (127.0.0.2, where the test's "remote" listens) refuses every other loopback address, metadata addresses,
 * names that resolve to refused addresses, and redirects to refused addresses, and nothing it refuses is
 * ever connected to.
 */
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHop, type Hop } from '../../src/mcp/remote/testing/hop.js';
import { startSessionServer, type TestRemote } from '../../src/mcp/remote/testing/servers.js';
import { useBerth } from '../support/use-berth.js';

const ctx = useBerth({ env: { BERTH_REMOTE_ALLOW: '127.0.0.2/32' } });
/** Berth's own default: BERTH_REMOTE_ALLOW unset (an empty value counts as unset). */
const plain = useBerth({ env: { BERTH_REMOTE_ALLOW: '' } });

/** A TCP server on 127.0.0.1 that counts connections: the address the guard must keep Berth away from. */
let target: NetServer;
let targetPort = 0;
let targetConnections = 0;
/** An MCP server (SDK 1.x, sessions), and a hop in front of it on 127.0.0.2 that can turn to redirecting. */
let remote: TestRemote;
let hop: Hop;
let hopUrl = '';
let redirectTo: string | null = null;

beforeAll(async () => {
  target = createNetServer((s) => {
    targetConnections++;
    s.destroy();
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  targetPort = (target.address() as AddressInfo).port;
  remote = await startSessionServer();
  hop = await startHop(remote.url, {
    host: '127.0.0.2',
    intercept: (_req, res) => {
      if (!redirectTo) return false;
      res.writeHead(307, { location: redirectTo }).end();
      return true;
    },
  });
  hopUrl = `${hop.origin}/mcp`;
});

afterAll(async () => {
  await hop?.close();
  await new Promise((r) => target?.close(r));
  await remote?.close();
});

interface ApiError {
  error: { code: string; message: string };
}

async function create(name: string, endpoint: string) {
  return ctx.api.call<ApiError & { id: string }>('POST', '/api/deployments', { name, spec: { type: 'url', endpoint } });
}

describe('a Berth that does not allow loopback remotes (BERTH_REMOTE_ALLOW=127.0.0.2/32)', () => {
  it('refuses a loopback endpoint at create time: 400 REMOTE_ADDRESS_FORBIDDEN naming BERTH_REMOTE_ALLOW', async () => {
    for (const host of ['127.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '2130706433']) {
      const r = await create('loop', `http://${host}:${targetPort}/mcp`);
      expect(r.status, host).toBe(400);
      expect(r.body.error.code).toBe('REMOTE_ADDRESS_FORBIDDEN');
      expect(r.body.error.message).toMatch(/loopback address, not allowed unless BERTH_REMOTE_ALLOW lists loopback/);
    }
    const list = await ctx.api.call<{ items: { name: string }[] }>('GET', '/api/deployments');
    expect(list.body.items.some((d) => d.name === 'loop')).toBe(false);
    expect(targetConnections).toBe(0);
  });

  it('refuses cloud metadata and link-local addresses, which no setting allows', async () => {
    for (const endpoint of ['http://169.254.169.254/latest/meta-data/', 'http://[fd00:ec2::254]/', 'http://100.100.100.200/', 'http://[::ffff:169.254.169.254]/', 'http://169.254.10.1/mcp', 'http://0.0.0.0:1/mcp']) {
      const r = await create('metadata', endpoint);
      expect(r.status, endpoint).toBe(400);
      expect(r.body.error.code).toBe('REMOTE_ADDRESS_FORBIDDEN');
      expect(r.body.error.message).toMatch(/never allowed/);
    }
  });

  it('fails a deployment whose host name resolves to a refused address, connecting to nothing', async () => {
    const r = await create('by-name', `http://localhost:${targetPort}/mcp`);
    expect(r.status).toBe(201);
    const failed = await ctx.api.waitFor(r.body.id, 'failed', 30_000);
    expect(failed.status_message).toMatch(/failed to start: .*localhost resolves to no address Berth may connect to: .*loopback address, not allowed unless BERTH_REMOTE_ALLOW/);
    const logs = await ctx.api.call<{ items: { line: string }[] }>('GET', `/api/deployments/${r.body.id}/logs`);
    expect(logs.body.items.some((e) => e.line.includes('localhost resolves to no address Berth may connect to'))).toBe(true);
    expect(targetConnections).toBe(0);
  });

  it('does not follow a redirect to a refused address, neither when detecting nor when proxying', async () => {
    // Detection: every answer is a redirect to 127.0.0.1; Berth sees no MCP server and fails the deployment.
    redirectTo = `http://127.0.0.1:${targetPort}/mcp`;
    const d = await create('redirected', hopUrl);
    expect(d.status).toBe(201);
    const failed = await ctx.api.waitFor(d.body.id, 'failed', 30_000);
    expect(failed.status_message).toMatch(/HTTP 307/);
    expect(targetConnections).toBe(0);

    // Proxy: a running deployment whose remote starts redirecting; the client gets the 307 as it is.
    redirectTo = null;
    const ok = await ctx.api.deploy({ name: 'proxied', spec: { type: 'url', endpoint: hopUrl } });
    await ctx.api.waitFor(ok.id);
    redirectTo = 'http://169.254.169.254/latest/meta-data/';
    const res = await fetch(ok.endpoint, {
      method: 'POST',
      redirect: 'manual',
      headers: { ...ctx.berth.authHeaders(), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    expect(res.status).toBe(307);
    expect(res.headers.get('location')).toBe(redirectTo);
    redirectTo = `http://127.0.0.1:${targetPort}/mcp`;
    expect((await fetch(ok.endpoint, { method: 'POST', redirect: 'manual', headers: ctx.berth.authHeaders(), body: '{}' })).status).toBe(307);
    expect(targetConnections).toBe(0);
  });
});

describe('a Berth with the default setting (BERTH_REMOTE_ALLOW unset)', () => {
  it('refuses loopback and private endpoints, and takes public ones', async () => {
    for (const endpoint of [`http://127.0.0.1:${targetPort}/mcp`, 'http://10.0.0.1/mcp', 'http://[fd12::1]/mcp', hopUrl]) {
      const r = await plain.api.call<ApiError>('POST', '/api/deployments', { name: 'default', spec: { type: 'url', endpoint } });
      expect(r.status, endpoint).toBe(400);
      expect(r.body.error.code).toBe('REMOTE_ADDRESS_FORBIDDEN');
    }
    // A public literal address passes the create-time check (stopped: nothing is contacted).
    const r = await plain.api.call<ApiError>('POST', '/api/deployments', { name: 'public', start: false, spec: { type: 'url', endpoint: 'https://203.0.114.1/mcp' } });
    expect(r.status).toBe(201);
    expect(targetConnections).toBe(0);
  });
});
