import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { echoSpec } from '../support/servers.js';

let berth: BerthProcess;
let api: TestApi;

beforeAll(async () => {
  berth = await startBerth();
  api = new TestApi(berth.url);
});

afterAll(async () => {
  await berth?.dispose();
});

describe('a server that keeps crashing', () => {
  it('is restarted with backoff, then reported failed with the reason; start retries it', async () => {
    const spec = echoSpec('crashy');
    if (spec.spec.type !== 'process') throw new Error('unexpected spec');
    spec.spec.env = { ECHO_EXIT_AFTER_MS: '1500' };
    const d = await api.deploy(spec);
    await api.waitFor(d.id);
    const failed = await api.waitFor(d.id, 'failed', 60_000);
    expect(failed.status_message).toMatch(/crash|exit/i);
    expect(failed.restart_count).toBeGreaterThanOrEqual(1);
    const logs = await api.call<{ items: { stream: string; line: string }[] }>('GET', `/api/deployments/${d.id}/logs?tail=200`);
    const exits = logs.body.items.filter((e) => e.stream === 'system' && /exited unexpectedly with code 3/.test(e.line));
    expect(exits.length).toBeGreaterThanOrEqual(3);
    const refused = await fetch(d.endpoint, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    expect(refused.status).toBe(503);

    // An explicit start gives it another go (it comes up, then crashes again).
    const started = await api.call<{ status: string }>('POST', `/api/deployments/${d.id}/start`);
    expect(started.status).toBe(202);
    await api.waitFor(d.id, 'running', 30_000);
  });
});
