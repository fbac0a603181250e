/** Secrets through the real API: what a create may reference, refusals that never quote a value, files at rest, and master keys across restarts. */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentView } from '../../src/core/index.js';
import { keyIdOf } from '../../src/secrets/cipher.js';
import { TestApi } from '../support/api.js';
import { startBerth, type BerthProcess } from '../support/berth-process.js';
import { callTool, secretServerSpec } from '../support/secrets.js';

const modeOf = (p: string) => statSync(p).mode & 0o777;
const VALUE = `v-${randomBytes(8).toString('hex')}`;

interface ErrorBody {
  error: { code: string; message: string; details?: { ref?: string; field?: string } };
}

describe('secrets through the API', () => {
  let berth: BerthProcess;
  let api: TestApi;
  beforeAll(async () => {
    berth = await startBerth();
    api = new TestApi(berth.url, berth.token);
  });
  afterAll(async () => {
    await berth?.dispose();
  });

  it('a create body secret becomes an encrypted secret of the new deployment and a reference in its spec', async () => {
    const r = await api.call<DeploymentView>('POST', '/api/deployments', {
      ...secretServerSpec('with-secret', {}),
      env_schema: [{ name: 'API_KEY', required: true, secret: true }],
      secrets: { API_KEY: VALUE },
    });
    expect(r.status).toBe(201);
    expect(r.body.spec).toMatchObject({ env: { API_KEY: `secret_ref:${r.body.id}:API_KEY` } });
    expect(JSON.stringify(r.body)).not.toContain(VALUE);
    const listed = await api.call<{ items: { name: string }[] }>('GET', `/api/deployments/${r.body.id}/secrets`);
    expect(listed.body.items.map((s) => s.name)).toStrictEqual(['API_KEY']);
    await api.waitFor(r.body.id);
    expect(await callTool(r.body.endpoint, berth.authHeaders(), 'getenv', { name: 'API_KEY' })).toBe(VALUE);
  });

  it('refuses plain text for an env_schema secret, another deployment\'s secret and a missing one; no answer quotes the value', async () => {
    const owner = await api.deploy({ ...secretServerSpec('owner', {}), secrets: { K: VALUE }, start: false });
    const refuse = async (body: unknown, code: string, status = 400) => {
      const r = await api.call<ErrorBody>('POST', '/api/deployments', body);
      expect(r.status, JSON.stringify(r.body)).toBe(status);
      expect(r.body.error.code).toBe(code);
      expect(JSON.stringify(r.body)).not.toContain(VALUE);
      return r.body.error;
    };
    const plain = await refuse({ ...secretServerSpec('plain', { API_KEY: VALUE }), env_schema: [{ name: 'API_KEY', secret: true }], start: false }, 'VALIDATION_FAILED');
    expect(plain.message).toContain('spec.env.API_KEY: is a secret');
    const foreign = await refuse(secretServerSpec('thief', { K: `secret_ref:${owner.id}:K` }), 'SECRET_REF_FORBIDDEN');
    expect(foreign.message).toContain(`secret_ref:${owner.id}:K is a secret of another deployment`);
    const missing = await refuse({ name: 'remote', spec: { type: 'url', endpoint: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer secret_ref:global:NOPE' } } }, 'SECRET_NOT_FOUND');
    expect(missing.details).toMatchObject({ field: 'spec.headers.Authorization', ref: 'secret_ref:global:NOPE' });
    await refuse({ name: 'remote', spec: { type: 'url', endpoint: 'http://127.0.0.1:9/mcp' }, secrets: { K: VALUE } }, 'VALIDATION_FAILED');

    const broken = await fetch(`${berth.url}/api/deployments`, { method: 'POST', headers: { ...berth.authHeaders(), 'content-type': 'application/json' }, body: `{"name":"x","secrets":{"K":${VALUE}}}` });
    expect(broken.status).toBe(400);
    const text = await broken.text();
    expect(JSON.parse(text)).toMatchObject({ error: { code: 'INVALID_JSON' } });
    expect(text).not.toContain(VALUE);
  });

  it('PUT, GET and DELETE secrets of a deployment and global ones, with clear errors', async () => {
    const d = await api.deploy({ ...secretServerSpec('managed', {}), start: false });
    expect((await api.call('PUT', `/api/deployments/${d.id}/secrets/TOKEN`, { value: VALUE })).status).toBe(200);
    expect((await api.call('PUT', '/api/secrets/global/TOKEN', { value: VALUE })).status).toBe(200);
    const lists = [await api.call('GET', `/api/deployments/${d.id}/secrets`), await api.call('GET', '/api/secrets/global')];
    for (const l of lists) expect(l.body).toMatchObject({ items: [{ name: 'TOKEN', updated_at: expect.any(String) }] });
    expect(JSON.stringify(lists)).not.toContain(VALUE);
    const codes = async (method: string, path: string, body?: unknown) => {
      const r = await api.call<ErrorBody>(method, path, body);
      return `${r.status} ${r.body?.error.code}`;
    };
    expect(await codes('PUT', '/api/secrets/global/TOKEN', { value: '' })).toBe('400 VALIDATION_FAILED');
    expect(await codes('PUT', '/api/secrets/global/bad-name', { value: VALUE })).toBe('400 VALIDATION_FAILED');
    expect(await codes('PUT', '/api/deployments/nope-aaaaaaaaaaaa/secrets/TOKEN', { value: VALUE })).toBe('404 DEPLOYMENT_NOT_FOUND');
    expect((await api.call('DELETE', '/api/secrets/global/TOKEN')).status).toBe(204);
    expect(await codes('DELETE', '/api/secrets/global/TOKEN')).toBe('400 SECRET_NOT_FOUND');
    expect((await api.call('DELETE', `/api/deployments/${d.id}`)).status).toBe(200);
    expect(await codes('GET', `/api/deployments/${d.id}/secrets`)).toBe('404 DEPLOYMENT_NOT_FOUND');
  });

  it('keeps the data dir 0700 and the database (with its WAL), logs, pid files and key file 0600', async () => {
    const d = await api.deploy(secretServerSpec('modes', {}));
    await api.waitFor(d.id);
    const dir = berth.dataDir;
    expect(modeOf(dir)).toBe(0o700);
    for (const f of ['berth.db', 'berth.db-wal', 'berth.db-shm', 'master.key']) expect(modeOf(join(dir, f)), f).toBe(0o600);
    for (const sub of ['logs', 'run']) {
      expect(modeOf(join(dir, sub))).toBe(0o700);
      const files = readdirSync(join(dir, sub));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) expect(modeOf(join(dir, sub, f)), `${sub}/${f}`).toBe(0o600);
    }
  });
});

describe('master keys across restarts', () => {
  const dirs: string[] = [];
  const running: BerthProcess[] = [];
  const start = async (dataDir: string, env: Record<string, string> = {}) => {
    const b = await startBerth({ dataDir, env });
    running.push(b);
    return { berth: b, api: new TestApi(b.url, b.token) };
  };
  const freshDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'berth-e2e-keys-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    for (const b of running) await b.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a key file: modes loosened by hand are fixed at start, and a rotated key still opens every value after a restart', async () => {
    const dataDir = freshDir();
    const first = await start(dataDir);
    const d = await first.api.deploy({ ...secretServerSpec('keeps', {}), secrets: { API_KEY: VALUE } });
    await first.api.waitFor(d.id);
    const rotated = await first.api.call<{ key_id: string; reencrypted: number }>('POST', '/api/secrets/rotate-key');
    expect(rotated.body.reencrypted).toBe(1);
    await first.berth.stop();
    chmodSync(dataDir, 0o755);
    for (const f of ['berth.db', 'master.key', join('logs', `${d.id}.log`)]) chmodSync(join(dataDir, f), 0o644);

    const second = await start(dataDir);
    expect(modeOf(dataDir)).toBe(0o700);
    for (const f of ['berth.db', 'master.key', join('logs', `${d.id}.log`)]) expect(modeOf(join(dataDir, f)), f).toBe(0o600);
    await second.api.waitFor(d.id);
    expect(await callTool(`${second.berth.url}/s/${d.id}/mcp`, second.berth.authHeaders(), 'getenv', { name: 'API_KEY' })).toBe(VALUE);
    const db = new Database(join(dataDir, 'berth.db'), { readonly: true });
    try {
      expect(db.prepare('select key_id from secrets').all()).toStrictEqual([{ key_id: rotated.body.key_id }]);
    } finally {
      db.close();
    }
    await second.berth.stop();
  });

  it('BERTH_MASTER_KEY: no key file; rotation by BERTH_PREVIOUS_MASTER_KEY at start; a wrong key stops Berth without showing any key', async () => {
    const dataDir = freshDir();
    const [a, b, c] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const first = await start(dataDir, { BERTH_MASTER_KEY: a.toString('base64') });
    expect((await first.api.call('PUT', '/api/secrets/global/SHARED', { value: VALUE })).status).toBe(200);
    expect(await first.api.call('POST', '/api/secrets/rotate-key')).toMatchObject({ status: 409, body: { error: { code: 'MASTER_KEY_EXTERNAL' } } });
    expect(existsSync(join(dataDir, 'master.key'))).toBe(false);
    await first.berth.stop();

    const second = await start(dataDir, { BERTH_MASTER_KEY: b.toString('hex'), BERTH_PREVIOUS_MASTER_KEY: a.toString('base64') });
    const db = new Database(join(dataDir, 'berth.db'), { readonly: true });
    try {
      expect(db.prepare('select key_id from secrets').all()).toStrictEqual([{ key_id: keyIdOf(b) }]);
    } finally {
      db.close();
    }
    const d = await second.api.deploy(secretServerSpec('env-key', { SHARED: 'secret_ref:global:SHARED' }));
    await second.api.waitFor(d.id);
    expect(await callTool(d.endpoint, second.berth.authHeaders(), 'getenv', { name: 'SHARED' })).toBe(VALUE);
    await second.berth.stop();

    const err = await start(dataDir, { BERTH_MASTER_KEY: c.toString('base64') }).then(
      () => undefined,
      (e: unknown) => String(e),
    );
    expect(err).toContain('CONFIG_INVALID');
    expect(err).toContain(`1 under key ${keyIdOf(b)}`);
    for (const k of [a, b, c]) for (const text of [k.toString('base64'), k.toString('hex')]) expect(err).not.toContain(text);
  });
});
