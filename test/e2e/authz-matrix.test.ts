/**
 * The authorization matrix, generated from the route table: every API and MCP route Berth reports
 * (App.routes()) × every kind of credential, checked against what this file says each route needs
 * and what each credential may do. A route this file has no rule for fails the suite.
 */
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import type { CreatedToken } from '../../src/control/tokens.js';
import { ROOT } from '../support/berth-process.js';
import { echoSpec } from '../support/servers.js';

/** What each route needs, written down independently of the code. A new route must be added here. */
const RULES: Record<string, 'public' | 'token' | 'read' | 'deploy' | 'admin' | 'invoke'> = {
  'GET /': 'public',
  'GET /healthz': 'public',
  'GET /api/openapi.json': 'public',
  'GET /api/whoami': 'token',
  'POST /api/deployments': 'deploy',
  'GET /api/deployments': 'read',
  'GET /api/deployments/:id': 'read',
  'DELETE /api/deployments/:id': 'deploy',
  'GET /api/deployments/:id/status': 'read',
  'POST /api/deployments/:id/stop': 'deploy',
  'POST /api/deployments/:id/start': 'deploy',
  'PATCH /api/deployments/:id': 'deploy',
  'POST /api/deployments/:id/redeploy': 'deploy',
  'POST /api/deployments/:id/rollback': 'deploy',
  'PUT /api/deployments/:id/source': 'deploy',
  'POST /api/sources': 'deploy',
  'POST /api/deployments/:id/restart': 'deploy',
  'GET /api/deployments/:id/revisions': 'read',
  'GET /api/deployments/:id/logs': 'read',
  'GET /api/deployments/:id/secrets': 'deploy',
  'PUT /api/deployments/:id/secrets/:key': 'deploy',
  'DELETE /api/deployments/:id/secrets/:key': 'deploy',
  'GET /api/secrets/global': 'admin',
  'PUT /api/secrets/global/:key': 'admin',
  'DELETE /api/secrets/global/:key': 'admin',
  'POST /api/secrets/rotate-key': 'admin',
  'POST /api/tokens': 'admin',
  'GET /api/tokens': 'admin',
  'DELETE /api/tokens/:id': 'admin',
  'GET /api/audit': 'admin',
  'GET /api/catalog': 'read',
  'GET /api/catalog/:name': 'read',
  'POST /api/catalog': 'admin',
  'DELETE /api/catalog/:name': 'admin',
  'POST /api/catalog/:name/deploy': 'deploy',
  'POST /s/:id/mcp': 'invoke',
  'GET /s/:id/mcp': 'invoke',
  'DELETE /s/:id/mcp': 'invoke',
  'GET /s/:id/sse': 'invoke',
  'POST /s/:id/message': 'invoke',
  'GET /api/groups': 'read',
  'POST /api/groups': 'deploy',
  'GET /api/groups/:name': 'read',
  'PATCH /api/groups/:name': 'deploy',
  'DELETE /api/groups/:name': 'deploy',
  'POST /g/:name/mcp': 'invoke',
  'GET /g/:name/mcp': 'invoke',
  'DELETE /g/:name/mcp': 'invoke',
  'GET /g/:name/sse': 'invoke',
  'POST /g/:name/message': 'invoke',
  'POST :id.mcp.test/mcp': 'invoke',
  'GET :id.mcp.test/mcp': 'invoke',
  'DELETE :id.mcp.test/mcp': 'invoke',
};

type Cred = 'none' | 'malformed' | 'wrong' | 'expired' | 'revoked' | 'admin' | 'deploy' | 'read' | 'invoke:*' | 'invoke:target' | 'invoke:other' | 'invoke:group:target';
const CREDS: Cred[] = ['none', 'malformed', 'wrong', 'expired', 'revoked', 'admin', 'deploy', 'read', 'invoke:*', 'invoke:target', 'invoke:other', 'invoke:group:target'];

/**
 * What each valid credential may reach (the scope model in README "Tokens"), independent of src/core/auth.ts.
 * `group`: the route is a group's (/g/NAME/…), whose target group has the target deployment as its member: a
 * deployment's scope does not reach the group, the group's scope does not reach the deployment.
 */
const MAY: Record<'admin' | 'deploy' | 'read' | 'invoke:*' | 'invoke:target' | 'invoke:other' | 'invoke:group:target', (need: string, target: 'target' | 'public', group: boolean) => boolean> = {
  admin: () => true,
  deploy: (n) => ['token', 'read', 'deploy'].includes(n),
  read: (n) => ['token', 'read'].includes(n),
  'invoke:*': (n) => n === 'token' || n === 'invoke',
  'invoke:target': (n, t, g) => n === 'token' || (n === 'invoke' && t === 'target' && !g),
  'invoke:other': (n) => n === 'token',
  'invoke:group:target': (n, t, g) => n === 'token' || (n === 'invoke' && t === 'target' && g),
};

/** The error a refused credential gets. */
const REFUSAL: Partial<Record<Cred, string>> = { none: 'UNAUTHORIZED', malformed: 'UNAUTHORIZED', wrong: 'UNAUTHORIZED', expired: 'TOKEN_EXPIRED', revoked: 'TOKEN_REVOKED' };

let app: App;
let base: string;
let dataDir: string;
const ids = { target: '', other: '', public: '' };
const headerOf = new Map<Cred, string | undefined>();

async function call(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; code: string | undefined; auth: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      const status = res.statusCode ?? 0;
      const auth = res.headers['www-authenticate'];
      // Streams (a log follow, an SSE GET) would not end: a success is known from the head.
      if ((res.headers['content-type'] ?? '').includes('text/event-stream')) {
        res.destroy();
        resolve({ status, code: undefined, auth });
        return;
      }
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let code: string | undefined;
        try {
          const j = JSON.parse(text) as { error?: { code?: string; data?: { code?: string } } };
          code = typeof j.error?.code === 'string' ? j.error.code : j.error?.data?.code;
        } catch {
          code = undefined;
        }
        resolve({ status, code, auth });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function makeToken(scopes: string[], extra: Record<string, unknown> = {}): Promise<CreatedToken> {
  const res = await fetch(`${base}/api/tokens`, { method: 'POST', headers: { ...adminHeader(), 'content-type': 'application/json' }, body: JSON.stringify({ scopes, ...extra }) });
  expect(res.status).toBe(201);
  return (await res.json()) as CreatedToken;
}

const ENV_TOKEN = `brt_${'m'.repeat(12)}${Date.now().toString(36)}${'x'.repeat(20)}`;
const adminHeader = () => ({ authorization: `Bearer ${ENV_TOKEN}` });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'berth-authz-'));
  app = await createApp(loadConfig({}, { host: '127.0.0.1', port: 0, dataDir, baseDomain: 'mcp.test', apiToken: ENV_TOKEN, logLevel: 'silent', mountRoots: [ROOT] }));
  base = (await app.listen()).url;
  for (const [key, access] of [['target', 'private'], ['other', 'private'], ['public', 'public']] as const) {
    const res = await fetch(`${base}/api/deployments`, { method: 'POST', headers: { ...adminHeader(), 'content-type': 'application/json' }, body: JSON.stringify({ ...echoSpec(`authz-${key}`), access, start: false }) });
    expect(res.status).toBe(201);
    ids[key] = ((await res.json()) as { id: string }).id;
  }
  // Groups: a private one of the target deployment, a public one of the public deployment.
  for (const [name, key, access] of [['authz-target', 'target', 'private'], ['authz-public', 'public', 'public']] as const) {
    const res = await fetch(`${base}/api/groups`, { method: 'POST', headers: { ...adminHeader(), 'content-type': 'application/json' }, body: JSON.stringify({ name, access, spec: { members: [{ deployment: ids[key] }] } }) });
    expect(res.status).toBe(201);
  }
  headerOf.set('none', undefined);
  headerOf.set('malformed', `Basic ${Buffer.from('admin:admin').toString('base64')}`);
  headerOf.set('wrong', `Bearer brt_${'Z'.repeat(43)}`);
  const expired = await makeToken(['admin'], { expires_at: new Date(Date.now() + 1500).toISOString() });
  headerOf.set('expired', `Bearer ${expired.token}`);
  const revoked = await makeToken(['admin']);
  expect((await fetch(`${base}/api/tokens/${revoked.id}`, { method: 'DELETE', headers: adminHeader() })).status).toBe(200);
  headerOf.set('revoked', `Bearer ${revoked.token}`);
  for (const [cred, scope] of [
    ['admin', 'admin'],
    ['deploy', 'deploy'],
    ['read', 'read'],
    ['invoke:*', 'invoke:*'],
    ['invoke:target', `invoke:${ids.target}`],
    ['invoke:other', `invoke:${ids.other}`],
    ['invoke:group:target', 'invoke:group:authz-target'],
  ] as const) {
    headerOf.set(cred, `Bearer ${(await makeToken([scope])).token}`);
  }
  // Let the expiring token expire.
  await new Promise((r) => setTimeout(r, 1600));
}, 60_000);

afterAll(async () => {
  await app?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Case {
  route: string;
  method: string;
  path: string;
  host?: string;
  body?: string;
  target: 'target' | 'public';
  /** A group's route. */
  group?: boolean;
}

/** Concrete requests for a route: harmless ones (unknown ids, invalid bodies, stopped deployments) so an allowed request changes nothing. */
function casesFor(method: string, pattern: string): Case[] {
  const route = `${method} ${pattern}`;
  const out: Case[] = [];
  const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? '{}' : undefined;
  if (pattern.startsWith(':id.')) {
    for (const t of ['target', 'public'] as const) out.push({ route, method, path: '/mcp', host: `${ids[t]}.mcp.test`, body, target: t });
    return out;
  }
  if (pattern.startsWith('/g/')) {
    for (const t of ['target', 'public'] as const) out.push({ route, method, path: pattern.replace(':name', `authz-${t}`), body, target: t, group: true });
    return out;
  }
  if (pattern.startsWith('/s/')) {
    for (const t of ['target', 'public'] as const) out.push({ route, method, path: pattern.replace(':id', ids[t]), body, target: t });
    return out;
  }
  const id = pattern.startsWith('/api/tokens/') ? 'tok_doesnotexist0' : method === 'GET' ? ids.target : 'nosuch-000000000000';
  const path = pattern.replace(':id', id).replace(':key', 'MATRIX_KEY').replace(':name', 'nosuch-template');
  out.push({ route, method, path, body, target: 'target' });
  if (route === 'GET /api/deployments/:id/logs') out.push({ route, method, path: `${path}?follow=1`, target: 'target' });
  return out;
}

describe('authorization matrix (generated from the route table)', () => {
  it('has a rule in this file for every route Berth serves, and Berth declares the same need', () => {
    const served = app.routes().map((r) => [`${r.method} ${r.path}`, r.need] as const);
    const unknown = served.filter(([k]) => !(k in RULES)).map(([k]) => k);
    expect(unknown, 'routes without a rule in the authorization matrix').toStrictEqual([]);
    expect(Object.keys(RULES).filter((k) => !served.some(([s]) => s === k)), 'rules for routes Berth no longer serves').toStrictEqual([]);
    for (const [k, need] of served) expect(need, k).toBe(RULES[k]);
  });

  it('documents every API route in the OpenAPI document with the scope it needs', async () => {
    const doc = (await (await fetch(`${base}/api/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-berth-scope'?: string; security?: unknown[] }>> };
    const wrong: string[] = [];
    for (const r of app.routes().filter((x) => !x.path.startsWith('/s/') && !x.path.startsWith('/g/') && !x.path.startsWith(':id'))) {
      const op = doc.paths[r.path.replace(/:([a-zA-Z]+)/g, '{$1}')]?.[r.method.toLowerCase()];
      if (op?.['x-berth-scope'] !== RULES[`${r.method} ${r.path}`]) wrong.push(`${r.method} ${r.path}: ${op ? `x-berth-scope ${op['x-berth-scope']}` : 'not documented'}`);
      if (op && (RULES[`${r.method} ${r.path}`] === 'public') !== (Array.isArray(op.security) && op.security.length === 0)) wrong.push(`${r.method} ${r.path}: security does not match`);
    }
    expect(wrong).toStrictEqual([]);
  });

  it('answers every route × credential as the rules say', async () => {
    const cases = app.routes().flatMap((r) => casesFor(r.method, r.path));
    const failures: string[] = [];
    let cells = 0;
    for (const c of cases) {
      const need = RULES[c.route]!;
      for (const cred of CREDS) {
        cells++;
        const h = headerOf.get(cred);
        const headers: Record<string, string> = { accept: 'application/json, text/event-stream', 'content-type': 'application/json', ...(h ? { authorization: h } : {}), ...(c.host ? { host: c.host } : {}) };
        const r = await call(c.method, c.path, headers, c.body);
        const refusedCode = REFUSAL[cred];
        let want: 'allowed' | string;
        if (need === 'public') want = 'allowed';
        else if (refusedCode) want = c.target === 'public' && need === 'invoke' && cred === 'none' ? 'allowed' : refusedCode;
        else if (MAY[cred as keyof typeof MAY](need, c.target, c.group === true)) want = 'allowed';
        else if (need === 'invoke' && c.target === 'public') want = 'allowed';
        else want = 'FORBIDDEN';
        const denied = r.status === 401 || r.status === 403;
        const got = denied ? (r.code ?? `HTTP ${r.status}`) : 'allowed';
        if (got !== want) failures.push(`${c.method} ${c.host ?? ''}${c.path} with ${cred}: want ${want}, got ${got} (HTTP ${r.status} ${r.code ?? ''})`);
        if (denied && !r.auth?.startsWith('Bearer realm="berth"')) failures.push(`${c.method} ${c.path} with ${cred}: ${r.status} without a WWW-Authenticate challenge`);
      }
    }
    console.log(`authorization matrix: ${cases.length} requests (${app.routes().length} routes) × ${CREDS.length} credentials = ${cells} cells, ${failures.length} wrong`);
    expect(failures).toStrictEqual([]);
    expect(cells).toBeGreaterThanOrEqual(app.routes().length * CREDS.length);
  }, 120_000);
});
