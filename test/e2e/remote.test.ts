import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { CLIENTS, textOf } from '../support/clients.js';
import { startHttpUpstream } from '../support/servers.js';

let berth: BerthProcess;
let api: TestApi;
let upstream: ChildProcess;
let upstreamUrl: string;

beforeAll(async () => {
  ({ proc: upstream, url: upstreamUrl } = await startHttpUpstream());
  berth = await startBerth();
  api = new TestApi(berth.url, berth.token);
});

afterAll(async () => {
  upstream?.kill();
  await berth?.dispose();
});

describe('a remote (url) deployment behind the gateway', () => {
  it('proxies sessions from both SDKs to the remote server', async () => {
    const d = await api.deploy({ name: 'remote', spec: { type: 'url', endpoint: upstreamUrl } });
    const status = await api.waitFor(d.id);
    expect(status.tools_count).toBe(3);
    for (const [, connect] of CLIENTS) {
      const clients = await Promise.all(Array.from({ length: 8 }, () => connect(d.endpoint)));
      try {
        const answers = await Promise.all(clients.map(async (c, i) => textOf(await c.call('add', { a: i, b: 1000 }))));
        expect(answers).toEqual(clients.map((_, i) => String(i + 1000)));
        expect(textOf(await clients[0]!.call('echo', { text: 'through the proxy' }))).toBe('through the proxy');
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    }
  });

  it('marks the deployment failed when the remote goes away, and the gateway answers 503', async () => {
    const other = await startHttpUpstream();
    const d = await api.deploy({ name: 'flaky', spec: { type: 'url', endpoint: other.url, health: { interval_s: 1, timeout_s: 2, failures_before_restart: 2 } } });
    await api.waitFor(d.id);
    other.proc.kill('SIGKILL');
    const failed = await api.waitFor(d.id, 'failed', 30_000);
    expect(failed.status_message).toMatch(/failed to start|unreachable|probe/i);
    const res = await fetch(d.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { data: { code: string } } };
    expect(body.error.data.code).toBe('UPSTREAM_UNAVAILABLE');
  });
});
