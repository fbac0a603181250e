import { describe, expect, it } from 'vitest';
import { useBerth } from '../support/use-berth.js';
import { echoSpec } from '../support/servers.js';

const ctx = useBerth();

describe('a server that keeps crashing', () => {
  it('is restarted with backoff, then reported failed with the reason; start retries it', async () => {
    const d = await ctx.api.deploy(echoSpec('crashy', [], {}, { env: { ECHO_EXIT_AFTER_MS: '1500' } }));
    await ctx.api.waitFor(d.id);
    const failed = await ctx.api.waitFor(d.id, 'failed', 60_000);
    expect(failed.status_message).toMatch(/crash|exit/i);
    expect(failed.restart_count).toBeGreaterThanOrEqual(1);
    const logs = await ctx.api.call<{ items: { stream: string; line: string }[] }>('GET', `/api/deployments/${d.id}/logs?tail=200`);
    const exits = logs.body.items.filter((e) => e.stream === 'system' && /exited unexpectedly with code 3/.test(e.line));
    expect(exits.length).toBeGreaterThanOrEqual(3);
    const refused = await fetch(d.endpoint, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
    expect(refused.status).toBe(503);

    // An explicit start gives it another go (it comes up, then crashes again).
    const started = await ctx.api.call<{ status: string }>('POST', `/api/deployments/${d.id}/start`);
    expect(started.status).toBe(202);
    await ctx.api.waitFor(d.id, 'running', 30_000);
  });

  it('that cannot start at all is reported failed with its own complaint from stderr', async () => {
    const script = "console.error('loading config'); console.error('Error: TOKEN is not set'); console.error('    at main (server.js:1:1)'); process.exit(1)";
    const d = await ctx.api.deploy({ name: 'nostart', spec: { type: 'process', command: process.execPath, args: ['-e', script], env: {} } });
    const failed = await ctx.api.waitFor(d.id, 'failed', 60_000);
    expect(failed.status_message).toMatch(/^failed to start: .*exit code 1.* \(stderr: Error: TOKEN is not set\); retry 1 in 5s \(or now: berth restart nostart-/);
  });
});
