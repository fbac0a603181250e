import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { CLIENTS, textOf, type McpTestClient } from '../support/clients.js';
import { nodeProcessesWith } from '../support/procs.js';
import { echoSpec, everythingSpec } from '../support/servers.js';

// Server pids are read from /proc by a marker argument: inside the sandbox a server sees its own pid namespace.
const MARKER = `--berth-test-marker=${randomUUID()}`;

let berth: BerthProcess;
let api: TestApi;
let everything: string;
let echo: string;

beforeAll(async () => {
  berth = await startBerth();
  api = new TestApi(berth.url, berth.token);
  everything = (await api.deploy(everythingSpec())).endpoint;
  echo = (await api.deploy(echoSpec('echo', [MARKER]))).endpoint;
  await api.waitFor(idOf(everything));
  await api.waitFor(idOf(echo));
});

afterAll(async () => {
  await berth?.dispose();
});

function idOf(endpoint: string): string {
  return endpoint.split('/s/')[1]!.split('/')[0]!;
}

async function using<T>(clients: McpTestClient[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
  }
}

describe.each(CLIENTS)('stdio servers behind the gateway, client %s', (_label, connect) => {
  it('initializes, lists and calls the tools of server-everything', async () => {
    const c = await connect(everything);
    await using([c], async () => {
      expect(c.sessionId()).toMatch(/^[\x21-\x7e]+$/);
      const names = await c.listToolNames();
      expect(names).toEqual(expect.arrayContaining(['echo', 'get-sum', 'trigger-long-running-operation']));
      expect(textOf(await c.call('echo', { message: 'hello berth' }))).toContain('hello berth');
      expect(textOf(await c.call('get-sum', { a: 20, b: 22 }))).toContain('42');
    });
  });

  it('delivers progress notifications to the caller', async () => {
    const c = await connect(everything);
    await using([c], async () => {
      const seen: number[] = [];
      const r = await c.call('trigger-long-running-operation', { duration: 1, steps: 4 }, { onprogress: (p) => seen.push(p.progress) });
      expect(textOf(r)).toContain('Long running operation completed');
      expect(seen).toEqual([1, 2, 3, 4]);
    });
  });

  it('multiplexes 32 concurrent sessions onto one process without crossing answers', async () => {
    const clients = await Promise.all(Array.from({ length: 32 }, () => connect(echo)));
    await using(clients, async () => {
      const status = await api.status(idOf(echo));
      expect(status.processes).toBe(1);
      expect(status.sessions).toBeGreaterThanOrEqual(32);
      const results = await Promise.all(
        clients.flatMap((c, i) =>
          [0, 1, 2].map(async (j) => {
            const want = `session-${i}-call-${j}-${'x'.repeat(i * 97)}`;
            return { want, got: textOf(await c.call('echo', { text: want })) };
          }),
        ),
      );
      for (const r of results) expect(r.got).toBe(r.want);
      const pids = new Set(await Promise.all(clients.map(async (c) => textOf(await c.call('whoami')))));
      expect(pids.size).toBe(1);
      expect(nodeProcessesWith(MARKER)).toHaveLength(1);
    });
  });

  it('passes a cancellation through to the server', async () => {
    const c = await connect(echo);
    await using([c], async () => {
      const before = JSON.parse(textOf(await c.call('stats'))) as { aborted: number };
      const ac = new AbortController();
      const call = c.call('slow', { ms: 20_000, steps: 20 }, { signal: ac.signal });
      setTimeout(() => ac.abort('test cancels'), 300);
      await expect(call).rejects.toThrow();
      let aborted = before.aborted;
      for (let i = 0; i < 50 && aborted === before.aborted; i++) {
        await new Promise((r) => setTimeout(r, 100));
        aborted = (JSON.parse(textOf(await c.call('stats'))) as { aborted: number }).aborted;
      }
      expect(aborted).toBe(before.aborted + 1);
    });
  });

  it('answers a call in flight with a JSON-RPC error when the server dies, then brings the server back', async () => {
    const c = await connect(echo);
    await using([c], async () => {
      const [pid] = nodeProcessesWith(MARKER);
      expect(pid).toBeGreaterThan(1);
      const before = await api.status(idOf(echo));
      const slow = c.call('slow', { ms: 10_000 });
      await new Promise((r) => setTimeout(r, 200));
      process.kill(pid!, 'SIGKILL');
      await expect(slow).rejects.toThrow(/exit|signal|SIGKILL/i);
      let answered = '';
      for (let i = 0; i < 100 && !answered; i++) {
        try {
          answered = textOf(await c.call('echo', { text: 'back again' }));
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(answered).toBe('back again');
      const now = nodeProcessesWith(MARKER);
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(pid);
      const after = await api.waitFor(idOf(echo));
      expect(after.restart_count).toBe(before.restart_count + 1);
    });
  });
});

describe('request accounting', () => {
  it('counts requests per deployment and shows them in the list', async () => {
    const c = await CLIENTS[0]![1](echo);
    await using([c], async () => {
      for (let i = 0; i < 5; i++) await c.call('echo', { text: String(i) });
    });
    const list = await api.call<{ items: { id: string; request_count: number; last_request_at: string | null }[] }>('GET', '/api/deployments');
    const row = list.body.items.find((d) => d.id === idOf(echo))!;
    expect(row.request_count).toBeGreaterThanOrEqual(5);
    expect(row.last_request_at).not.toBeNull();
  });
});
