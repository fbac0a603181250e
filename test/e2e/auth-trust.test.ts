/**
 * Issue 10's reproductions 1-4, as an attacker on the same machine would try them, against a real
 * Berth process: each one worked on the code before credentials were required on every route.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/store/types.js';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { freePort } from '../support/ports.js';
import { connectV1, textOf } from '../support/clients.js';
import { echoSpec, startHttpUpstream } from '../support/servers.js';

const NOBODY = 65534;

interface Raw {
  status: number;
  body: string;
  json: { error?: { code?: string; data?: { code?: string } } } | undefined;
}

/** node:http, because fetch() will not send a chosen Host header. */
function raw(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; localAddress?: string }): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        let json: Raw['json'];
        try {
          json = JSON.parse(body) as Raw['json'];
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, json });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The stable code: the REST error's, or a JSON-RPC error's `data.code`. */
const codeOf = (r: Raw): string | undefined => r.json?.error?.data?.code ?? (typeof r.json?.error?.code === 'string' ? r.json.error.code : undefined);

let berth: BerthProcess;
let api: TestApi;
let admin: string;
let work: string;
const adminHeaders = (): Record<string, string> => ({ authorization: `Bearer ${admin}` });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'berth-trust-'));
  chmodSync(work, 0o777); // so user nobody may try to write its marker here
  // Started as the README starts it: no BERTH_API_TOKEN, so the first start makes and prints the admin token.
  berth = await startBerth({ env: { BERTH_API_TOKEN: '' } });
  const printed = /\n\s+(brt_[A-Za-z0-9]{43})\n/.exec(berth.output())?.[1];
  if (!printed) throw new Error(`Berth printed no admin token at its first start:\n${berth.output()}`);
  admin = printed;
  api = new TestApi(berth.url, admin);
});

afterAll(async () => {
  await berth?.dispose();
  rmSync(work, { recursive: true, force: true });
});

const deployBody = (marker: string) => JSON.stringify({ name: 'p', spec: { type: 'process', command: 'sh', args: ['-c', `id > ${marker}`], env: {} } });

describe('issue 10 reproductions: credentials on every route', () => {
  it('1. a local process running as user nobody cannot deploy (and so cannot run a command as Berth)', async () => {
    const marker = join(work, 'as-berth');
    const script = `fetch(process.argv[1] + '/api/deployments', { method: 'POST', headers: { 'content-type': 'application/json' }, body: process.argv[2] })
      .then(async (r) => { console.log(r.status, await r.text()); })`;
    const out = await new Promise<string>((resolve, reject) => {
      const p: ChildProcess = spawn(process.execPath, ['-e', script, berth.url, deployBody(marker)], { uid: NOBODY, gid: NOBODY, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let s = '';
      p.stdout!.on('data', (c: Buffer) => (s += c.toString()));
      p.stderr!.on('data', (c: Buffer) => (s += c.toString()));
      p.on('error', reject);
      p.on('close', () => resolve(s));
    });
    expect(out).toMatch(/^401 .*UNAUTHORIZED/);
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(marker)).toBe(false);
    expect((await api.call<{ items: unknown[] }>('GET', '/api/deployments')).body.items).toHaveLength(0);
    // The refusal is in the audit log, with where it came from.
    const audit = await api.call<{ items: AuditEntry[] }>('GET', '/api/audit?action=auth.denied');
    expect(audit.body.items.some((e) => e.target === 'POST /api/deployments' && e.source === '127.0.0.1' && e.code === 'UNAUTHORIZED')).toBe(true);
  });

  it('2. a loopback web page cannot deploy: simple (no-preflight) requests are refused by Origin and by Content-Type', async () => {
    const marker = join(work, 'csrf');
    const page = { origin: 'http://localhost:3000' };
    const plainJson = await raw(`${berth.url}/api/deployments`, { method: 'POST', headers: { ...page, 'content-type': 'text/plain;json' }, body: deployBody(marker) });
    expect([plainJson.status, codeOf(plainJson)]).toStrictEqual([403, 'FORBIDDEN_ORIGIN']);
    const noType = await raw(`${berth.url}/api/deployments`, { method: 'POST', headers: page, body: deployBody(marker) });
    expect([noType.status, codeOf(noType)]).toStrictEqual([403, 'FORBIDDEN_ORIGIN']);
    // Even with the admin token and no Origin, only application/json bodies are read.
    const auth = adminHeaders();
    for (const type of ['text/plain;json', 'text/plain', 'application/x-www-form-urlencoded', 'application/zip', 'application/jsonx']) {
      const r = await raw(`${berth.url}/api/deployments`, { method: 'POST', headers: { ...auth, 'content-type': type }, body: deployBody(marker) });
      expect([type, r.status, codeOf(r)]).toStrictEqual([type, 415, 'UNSUPPORTED_MEDIA_TYPE']);
    }
    // multipart/form-data is read only as a source upload (a `deployment` field and a `source` ZIP): JSON sent as it is refused.
    const multipart = await raw(`${berth.url}/api/deployments`, { method: 'POST', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=x' }, body: deployBody(marker) });
    expect([multipart.status, codeOf(multipart)]).toStrictEqual([400, 'VALIDATION_FAILED']);
    const none = await raw(`${berth.url}/api/deployments`, { method: 'POST', headers: auth, body: deployBody(marker) });
    expect([none.status, codeOf(none)]).toStrictEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    await new Promise((r) => setTimeout(r, 500));
    expect(existsSync(marker)).toBe(false);
    expect((await api.call<{ items: unknown[] }>('GET', '/api/deployments')).body.items).toHaveLength(0);
  });

  it('3. BERTH_HOST=0.0.0.0 without a token still needs one (it makes and prints an admin token), and Host: localhost from the network gains nothing', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!external) throw new Error('this test needs a non-loopback IPv4 address on the machine');
    const port = await freePort();
    const wide = await startBerth({ port, env: { BERTH_HOST: '0.0.0.0', BERTH_API_TOKEN: '', BERTH_PUBLIC_URL: `http://${external}:${port}` } });
    try {
      const printed = /\n\s+(brt_[A-Za-z0-9]{43})\n/.exec(wide.output())?.[1];
      expect(printed, wide.output()).toBeDefined();
      const at = `http://${external}:${wide.port}`;
      const marker = join(work, 'wide');
      const spoofed = await raw(`${at}/api/deployments`, { method: 'POST', headers: { host: 'localhost', 'content-type': 'application/json' }, body: deployBody(marker) });
      expect([spoofed.status, codeOf(spoofed)]).toStrictEqual([403, 'FORBIDDEN_HOST']);
      const honest = await raw(`${at}/api/deployments`, { method: 'POST', headers: { host: `${external}:${wide.port}`, 'content-type': 'application/json' }, body: deployBody(marker) });
      expect([honest.status, codeOf(honest)]).toStrictEqual([401, 'UNAUTHORIZED']);
      expect(wide.output()).toContain(`npx berth login --url ${at}`);
      const loopback = await raw(`http://127.0.0.1:${wide.port}/api/deployments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deployBody(marker) });
      expect([loopback.status, codeOf(loopback)]).toStrictEqual([401, 'UNAUTHORIZED']);
      const withToken = await raw(`http://127.0.0.1:${wide.port}/api/whoami`, { headers: { authorization: `Bearer ${printed}` } });
      expect(withToken.status).toBe(200);
      expect(existsSync(marker)).toBe(false);
    } finally {
      await wide.dispose();
    }
  });

  it('4. /s/ID/mcp and /s/ID/sse need a token with invoke scope, and Berth keeps its token from url remotes', async () => {
    const upstream = await startHttpUpstream();
    try {
      const remote = await api.deploy({ name: 'remote', access: 'private', spec: { type: 'url', endpoint: upstream.url, headers: { Authorization: 'Bearer the-remotes-own-key' } } });
      const local = await api.deploy({ ...echoSpec('local'), access: 'private' });
      await api.waitFor(remote.id);
      await api.waitFor(local.id);
      for (const d of [remote, local]) {
        const sse = d.endpoint.replace(/\/mcp$/, '/sse');
        const anonMcp = await raw(d.endpoint, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
        expect([anonMcp.status, codeOf(anonMcp)]).toStrictEqual([401, 'UNAUTHORIZED']);
        const anonSse = await raw(sse, { headers: { accept: 'text/event-stream' } });
        expect([anonSse.status, codeOf(anonSse)]).toStrictEqual([401, 'UNAUTHORIZED']);
        const bad = await raw(sse, { headers: { accept: 'text/event-stream', authorization: 'Bearer brt_' + 'x'.repeat(43) } });
        expect(bad.status).toBe(401);
      }
      // A token for the other deployment does not open this one.
      const other = await api.call<{ token: string }>('POST', '/api/tokens', { scopes: [`invoke:${local.id}`] });
      const wrongScope = await raw(remote.endpoint, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${other.body.token}` }, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
      expect([wrongScope.status, codeOf(wrongScope)]).toStrictEqual([403, 'FORBIDDEN']);

      const mine = await api.call<{ token: string }>('POST', '/api/tokens', { scopes: [`invoke:${remote.id}`] });
      const c = await connectV1(remote.endpoint, { authorization: `Bearer ${mine.body.token}` });
      try {
        const seen = JSON.parse(textOf(await c.call('seen-authorization'))) as string[];
        expect(seen).toContain('Bearer the-remotes-own-key');
        expect(seen.join(' ')).not.toContain(mine.body.token);
        expect(seen.join(' ')).not.toContain(admin);
      } finally {
        await c.close();
      }
    } finally {
      upstream.proc.kill();
    }
  });

  it('records every change with who made it', async () => {
    const whoami = (await api.call<{ id: string }>('GET', '/api/whoami')).body.id;
    expect(whoami).toMatch(/^tok_/);
    const d = await api.deploy({ ...echoSpec('audited'), start: false });
    await api.call('DELETE', `/api/deployments/${d.id}`);
    const { body } = await api.call<{ items: AuditEntry[] }>('GET', `/api/audit?target=${d.id}`);
    expect(body.items.map((e) => [e.action, e.actor, e.result])).toStrictEqual([
      ['deployment.create', whoami, 'ok'],
      ['deployment.delete', whoami, 'ok'],
    ]);
    const csv = await fetch(`${berth.url}/api/audit?format=csv&target=${d.id}`, { headers: adminHeaders() });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('seq,at,actor,actor_name,action,target,source,result,code,detail');
    expect(lines).toHaveLength(3);
  });
});
