import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createTempDatabase, withPostgres } from '../../src/store/testing/postgres.js';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { connectV2, textOf } from '../support/clients.js';
import { nodeProcessesWith } from '../support/procs.js';
import { echoSpec } from '../support/servers.js';

const berths: BerthProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  await Promise.all(berths.splice(0).map((b) => b.dispose()));
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Two Berths on one store share the token and the master key (the store holds encrypted secrets). */
function sharedEnv(databaseUrl: string): Record<string, string> {
  return {
    BERTH_DATABASE_URL: databaseUrl,
    BERTH_API_TOKEN: `brt_${randomBytes(24).toString('hex')}`,
    BERTH_MASTER_KEY: randomBytes(32).toString('base64'),
    BERTH_LEASE_RETRY_S: '1',
  };
}

async function start(env: Record<string, string>): Promise<BerthProcess> {
  const b = await startBerth({ env });
  berths.push(b);
  return b;
}

async function role(b: BerthProcess): Promise<string> {
  return ((await (await fetch(`${b.url}/healthz`)).json()) as { role: string }).role;
}

/** Waits for a condition, polling; the bound only turns a hang into a failure. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms}ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A raw MCP initialize, to see the status, code and message a Berth answers with. */
async function initialize(b: BerthProcess, id: string): Promise<{ status: number; body: { error?: { message: string; data?: { code?: string } } } }> {
  const res = await fetch(`${b.url}/s/${id}/mcp`, {
    method: 'POST',
    headers: { ...b.authHeaders(), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'lease-test', version: '1' } } }),
  });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : {} };
}

async function echo(endpoint: string, headers: Record<string, string>): Promise<string> {
  const c = await connectV2(endpoint, headers);
  try {
    return textOf(await c.call('echo', { text: 'hello' }));
  } finally {
    await c.close();
  }
}

await withPostgres('two Berths on one store', () => {
  describe('the reconciler lease on PostgreSQL', () => {
    it('lets exactly one of two Berths run the servers; the standby says why and takes over when the leader is killed', async () => {
      const db = await createTempDatabase();
      cleanups.push(() => db.drop());
      const env = sharedEnv(db.url);
      const leader = await start(env);
      expect(await role(leader)).toBe('leader');
      const standby = await start(env);
      expect(await role(standby)).toBe('standby');
      // The start-up log says which one it is (written once the first try for the lease has been made).
      await until('the standby says so', () => (standby.output().includes('berth: standby:') ? true : undefined));
      expect(standby.output()).toContain(`standby: the Berth at pid ${leader.proc.pid} on `);
      expect(leader.output()).toContain('berth: leader:');

      const marker = `--berth-test-marker=${randomUUID()}`;
      const api = new TestApi(leader.url, leader.token);
      const d = await api.deploy(echoSpec('leased', [marker]));
      await api.waitFor(d.id);
      expect(await echo(`${leader.url}/s/${d.id}/mcp`, leader.authHeaders())).toBe('hello');
      expect(nodeProcessesWith(marker)).toHaveLength(1);

      // The standby serves the API from the shared store...
      const viaStandby = new TestApi(standby.url, standby.token);
      expect((await viaStandby.status(d.id)).status).toBe('running');
      const marker2 = `--berth-test-marker=${randomUUID()}`;
      const written = await viaStandby.deploy(echoSpec('written-on-standby', [marker2]));
      // ...but runs nothing, and refuses MCP traffic with a stable code and a message that names the leader.
      const refused = await initialize(standby, d.id);
      expect(refused.status).toBe(503);
      expect(refused.body.error?.data?.code).toBe('STANDBY');
      expect(refused.body.error?.message).toContain(`pid ${leader.proc.pid} on `);
      expect(refused.body.error?.message).toContain('send MCP traffic to the leader');
      expect(nodeProcessesWith(marker)).toHaveLength(1);
      expect(nodeProcessesWith(marker2)).toHaveLength(0);

      // The leader dies without a word: PostgreSQL ends its session, and with it the lock.
      const oldPid = nodeProcessesWith(marker)[0];
      await leader.kill();
      await until('the standby becomes leader', async () => ((await role(standby)) === 'leader' ? true : undefined));
      expect(await until('the deployment answers on the new leader', () => echo(`${standby.url}/s/${d.id}/mcp`, standby.authHeaders()))).toBe('hello');
      await viaStandby.waitFor(written.id);
      expect(await echo(`${standby.url}/s/${written.id}/mcp`, standby.authHeaders())).toBe('hello');
      // One copy of each server: the new leader's (the old leader's server ended with it).
      const now = await until('the old leader’s server is gone', () => {
        const pids = nodeProcessesWith(marker);
        return pids.length === 1 && pids[0] !== oldPid ? pids : undefined;
      });
      expect(now).toHaveLength(1);
      expect(nodeProcessesWith(marker2)).toHaveLength(1);
    });

    it("applies a group change written through the standby's API to the leader's group endpoint, and its removal", async () => {
      const db = await createTempDatabase();
      cleanups.push(() => db.drop());
      const env = sharedEnv(db.url);
      const leader = await start(env);
      const standby = await start(env);
      expect(await role(standby)).toBe('standby');
      const api = new TestApi(leader.url, leader.token);
      const d = await api.deploy(echoSpec('grouped'));
      await api.waitFor(d.id);
      expect((await api.call('POST', '/api/groups', { name: 'shared', spec: { members: [{ deployment: 'grouped' }] } })).status).toBe(201);
      const url = `${leader.url}/g/shared/mcp`;
      const names = async (): Promise<string[]> => {
        const c = await connectV2(url, leader.authHeaders());
        try {
          return await c.listToolNames();
        } finally {
          await c.close();
        }
      };
      expect(await names()).toContain('grouped__echo');
      // The standby writes the store only: the leader's hub learns of it by comparing with the store now and then.
      const viaStandby = new TestApi(standby.url, standby.token);
      const patched = await viaStandby.call('PATCH', '/api/groups/shared', { spec: { members: [{ deployment: 'grouped', deny: ['echo'] }] } });
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      await until('the leader lists the group as changed', async () => ((await names()).includes('grouped__echo') ? undefined : true));
      expect(await names()).toContain('grouped__env');
      expect((await viaStandby.call('DELETE', '/api/groups/shared')).status).toBe(204);
      await until('the leader drops the removed group', async () => {
        const res = await fetch(url, { method: 'POST', headers: { ...leader.authHeaders(), 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'lease-test', version: '1' } } }) });
        await res.text();
        return res.status === 404 ? true : undefined;
      });
    });

    it('makes a leader whose lease connection drops stop its servers and stand by, while the other Berth takes over', async () => {
      const db = await createTempDatabase();
      cleanups.push(() => db.drop());
      const env = sharedEnv(db.url);
      const first = await start(env);
      const second = await start(env);
      expect(await role(first)).toBe('leader');
      expect(await role(second)).toBe('standby');
      const marker = `--berth-test-marker=${randomUUID()}`;
      const d = await new TestApi(first.url, first.token).deploy(echoSpec('dropped', [marker]));
      await new TestApi(first.url, first.token).waitFor(d.id);
      const [oldPid] = nodeProcessesWith(marker);
      expect(oldPid).toBeDefined();

      // PostgreSQL ends the leader's lease session (a network cut, an operator, a failover of the database).
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      try {
        const r = await admin.query<{ ok: boolean }>(`select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name like $1`, [`berth-lease:${first.proc.pid}:%`]);
        expect(r.rows).toEqual([{ ok: true }]);
      } finally {
        await admin.end();
      }
      await until('the roles swap', async () => ((await role(first)) === 'standby' && (await role(second)) === 'leader' ? true : undefined));
      expect(await until('the deployment answers on the new leader', () => echo(`${second.url}/s/${d.id}/mcp`, second.authHeaders()))).toBe('hello');
      const pids = await until('only the new leader’s server runs', () => {
        const now = nodeProcessesWith(marker);
        return now.length === 1 && now[0] !== oldPid ? now : undefined;
      });
      expect(pids).toHaveLength(1);
      // The old leader learns who leads now at its next try of the lease, and names it.
      const refused = await until('the standby names the new leader', async () => {
        const r = await initialize(first, d.id);
        return r.body.error?.message?.includes(`pid ${second.proc.pid} on `) ? r : undefined;
      });
      expect(refused.body.error?.data?.code).toBe('STANDBY');
      expect(first.output()).toContain('lost the reconciler lease');
    });
  });
});

describe('the reconciler lease on SQLite', () => {
  it('makes a second Berth on the same database file a standby, which takes over when the first stops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-lease-e2e-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const env = sharedEnv(`sqlite:${join(dir, 'berth.db')}`);
    const first = await start(env);
    const second = await start(env);
    expect(await role(first)).toBe('leader');
    expect(await role(second)).toBe('standby');
    await until('the standby says so', () => (second.output().includes('berth: standby:') ? true : undefined));
    expect(second.output()).toContain(`standby: the Berth at pid ${first.proc.pid} on `);
    const d = await new TestApi(first.url, first.token).deploy(echoSpec('sqlite-leased'));
    const refused = await initialize(second, d.id);
    expect(refused.status).toBe(503);
    expect(refused.body.error?.data?.code).toBe('STANDBY');

    expect(await first.stop()).toBe(0);
    await until('the standby becomes leader', async () => ((await role(second)) === 'leader' ? true : undefined));
    expect(await until('the deployment answers on the new leader', () => echo(`${second.url}/s/${d.id}/mcp`, second.authHeaders()))).toBe('hello');
  });
});
