import { describe, expect, it } from 'vitest';
import { connectV1, connectV2, textOf, type McpTestClient } from '../support/clients.js';
import { echoSpec } from '../support/servers.js';
import { useBerth } from '../support/use-berth.js';

const ctx = useBerth({ env: { BERTH_DRAIN_S: '10' } });


/** Sessions calling a tool in a loop, counting answers and failures, until stopped. */
class Load {
  readonly answers: string[][];
  readonly failures: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(private readonly clients: McpTestClient[]) {
    this.answers = clients.map(() => []);
    this.loops = clients.map((c, i) => this.loop(c, i));
  }

  private async loop(client: McpTestClient, i: number): Promise<void> {
    for (let n = 0; this.running; n++) {
      try {
        // Every third call takes a while, so that calls are in flight on the old process when a swap happens.
        if (n % 3 === 2) await client.call('slow', { ms: 40, steps: 2 });
        else this.answers[i]!.push(textOf(await client.call('env', { name: 'REV' })));
      } catch (err) {
        this.failures.push(`${client.sdk} #${i}: ${String(err)}`);
      }
    }
  }

  /** Lets every session make at least `n` more calls. */
  async calls(n: number): Promise<void> {
    const marks = this.answers.map((a) => a.length + n);
    while (this.answers.some((a, i) => a.length < marks[i]!) && this.failures.length === 0) await new Promise((r) => setTimeout(r, 20));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

describe('an update under continuous load', () => {
  it('moves 8 SDK sessions (1.x and 2.x) to the new revision with zero failed calls; a failing revision changes nothing', async () => {
    const d = await ctx.api.deploy(echoSpec('under-load', [], {}, { env: { REV: 'r1' } }));
    await ctx.api.waitFor(d.id);
    const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? connectV1 : connectV2)(d.endpoint)));
    const sessions = clients.map((c) => c.sessionId());
    const load = new Load(clients);
    try {
      await load.calls(5);
      const patched = await ctx.api.call('PATCH', `/api/deployments/${d.id}`, { spec: { env: { REV: 'r2' } } });
      expect(patched.status).toBe(202);
      const s = await ctx.api.settled(d.id);
      expect(s).toMatchObject({ status: 'running', serving_revision: 2 });
      await load.calls(5);
      expect(load.failures).toStrictEqual([]);
      for (const a of load.answers) expect(a.at(-1)).toBe('r2');
      // Each session saw r1, then r2, and never r1 again: it moved once, in order.
      for (const a of load.answers) expect(a.lastIndexOf('r1')).toBeLessThan(a.indexOf('r2'));
      expect(clients.map((c) => c.sessionId())).toStrictEqual(sessions);

      const bad = await ctx.api.call('PATCH', `/api/deployments/${d.id}`, { spec: { args: ['-e', 'process.exit(9)'] } });
      expect(bad.status).toBe(202);
      const after = await ctx.api.settled(d.id);
      expect(after).toMatchObject({ status: 'running', revision: 3, serving_revision: 2 });
      await load.calls(5);
      expect(load.failures).toStrictEqual([]);
      for (const a of load.answers) expect(a.at(-1)).toBe('r2');
    } finally {
      await load.stop();
      await Promise.all(clients.map((c) => c.close()));
    }
    const total = load.answers.reduce((n, a) => n + a.length, 0);
    console.log(`update under load: ${total} calls over 8 sessions, ${load.failures.length} failed`);
  });
});
