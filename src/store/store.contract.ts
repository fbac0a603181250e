import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../core/index.js';
import type { Deployment } from '../core/index.js';
import type { DeploymentPatch, DeploymentStore, NewDeployment } from './types.js';

export interface StoreFixture {
  store: DeploymentStore;
  cleanup(): Promise<void>;
}

/** A process deployment with every nested spec and env_schema field set. */
export function sampleDeployment(id: string, overrides: Partial<NewDeployment> = {}): NewDeployment {
  return {
    id,
    name: `Server ${id}`,
    access: 'public',
    description: 'Fetches "things" — with ünïcode and a \n newline',
    tags: ['alpha', 'beta'],
    env_schema: [
      { name: 'API_KEY', type: 'string', required: true, secret: true, description: 'The key' },
      { name: 'PORT', type: 'integer', required: false, secret: false, default: '8080' },
      { name: 'DEBUG', type: 'boolean', required: false, secret: false, default: null },
    ],
    spec: {
      type: 'process',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-everything', '--flag=a b'],
      env: { API_KEY: 'secret_ref:x:API_KEY', EMPTY: '' },
      cwd: '/srv/x',
      mode: 'isolated',
      isolated: { max_sessions: 4, warm: 2 },
      health: { interval_s: 15, timeout_s: 2.5, failures_before_restart: 5 },
    },
    desired: 'running',
    status: 'pending',
    status_message: null,
    ...overrides,
  };
}

/** The BerthError code `promise` rejects with (fails the test when it resolves or throws something else). */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BerthError);
  return (err as BerthError).code;
}

/** The behaviour every DeploymentStore must have; run against each implementation. */
export function runDeploymentStoreContract(name: string, make: () => Promise<StoreFixture>): void {
  describe(`DeploymentStore contract: ${name}`, () => {
    let fixture: StoreFixture;
    let store: DeploymentStore;

    beforeEach(async () => {
      fixture = await make();
      store = fixture.store;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('create fills server-owned fields and get/list return the same deployment', async () => {
      const created = await store.create(sampleDeployment('one-a1'));
      expect(created).toMatchObject({ ...sampleDeployment('one-a1'), request_count: 0, restart_count: 0, tools: null });
      expect(created.last_request_at).toBeNull();
      expect(created.started_at).toBeNull();
      expect(created.stopped_at).toBeNull();
      expect(created.deleted_at).toBeNull();
      expect(new Date(created.created_at).toISOString()).toBe(created.created_at);
      expect(created.updated_at).toBe(created.created_at);
      expect(await store.get('one-a1')).toStrictEqual(created);
      expect(await store.list()).toStrictEqual([created]);
    });

    it('round-trips a url spec, empty collections and a null description', async () => {
      const d = sampleDeployment('url-b2', {
        description: null,
        tags: [],
        env_schema: [],
        spec: { type: 'url', endpoint: 'https://example.com/mcp', headers: { Authorization: 'secret_ref:u:TOKEN' }, timeout_s: 60, health: { interval_s: 0, timeout_s: 10, failures_before_restart: 1 } },
      });
      const created = await store.create(d);
      expect(await store.get('url-b2')).toStrictEqual(created);
      expect(created).toMatchObject(d);
    });

    it('update round-trips every patchable field, keeps the rest and returns what get returns', async () => {
      const created = await store.create(sampleDeployment('upd-c3'));
      const patch: Required<Omit<DeploymentPatch, 'bump_generation' | 'add_restarts'>> = {
        name: 'Renamed',
        description: null,
        tags: ['x'],
        access: 'private',
        serving_revision: 1,
        observed_generation: 1,
        desired: 'stopped',
        status: 'running',
        status_message: 'all good',
        tools: [{ name: 'echo', title: 'Echo', description: 'Echoes' }, { name: 'add' }],
        restart_count: 3,
        started_at: '2030-01-02T03:04:05.678Z',
        stopped_at: '2030-01-03T03:04:05.678Z',
        deleted_at: '2030-01-04T03:04:05.678Z',
      };
      const updated = await store.update('upd-c3', patch);
      const expected: Deployment = { ...created, ...patch, updated_at: updated.updated_at };
      expect(updated).toStrictEqual(expected);
      expect(await store.get('upd-c3')).toStrictEqual(expected);

      const cleared = await store.update('upd-c3', { status_message: null, tools: [], started_at: null });
      expect(cleared).toMatchObject({ status_message: null, tools: [], started_at: null, restart_count: 3, desired: 'stopped' });
      expect((await store.update('upd-c3', { tools: null })).tools).toBeNull();
      expect(await store.get('upd-c3')).toMatchObject({ tools: null, stopped_at: patch.stopped_at });
    });

    it('update bumps updated_at (strictly) and leaves created_at alone, even with an empty patch', async () => {
      const created = await store.create(sampleDeployment('time-d4'));
      const first = await store.update('time-d4', { status: 'building' });
      expect(first.updated_at > created.updated_at).toBe(true);
      expect(first.created_at).toBe(created.created_at);
      const second = await store.update('time-d4', {});
      expect(second.updated_at > first.updated_at).toBe(true);
      expect(second.status).toBe('building');
    });

    it('unknown ids: get is undefined, update and addRequests throw DEPLOYMENT_NOT_FOUND', async () => {
      await store.create(sampleDeployment('known-e5'));
      expect(await store.get('nope-e5')).toBeUndefined();
      expect(await codeOf(store.update('nope-e5', { status: 'running' }))).toBe('DEPLOYMENT_NOT_FOUND');
      expect(await codeOf(store.addRequests('nope-e5', 1, new Date().toISOString()))).toBe('DEPLOYMENT_NOT_FOUND');
      expect((await store.get('known-e5'))?.status).toBe('pending');
    });

    it('list is newest first and hides deleted deployments unless asked', async () => {
      for (const id of ['a-f6', 'b-f6', 'c-f6', 'd-f6']) await store.create(sampleDeployment(id));
      expect((await store.list()).map((d) => d.id)).toStrictEqual(['d-f6', 'c-f6', 'b-f6', 'a-f6']);
      await store.update('b-f6', { status: 'deleted', desired: 'deleted', deleted_at: '2031-01-01T00:00:00.000Z' });
      await store.update('d-f6', { status: 'stopped' });
      expect((await store.list()).map((d) => d.id)).toStrictEqual(['d-f6', 'c-f6', 'a-f6']);
      expect((await store.list({ includeDeleted: false })).map((d) => d.id)).toStrictEqual(['d-f6', 'c-f6', 'a-f6']);
      expect((await store.list({ includeDeleted: true })).map((d) => d.id)).toStrictEqual(['d-f6', 'c-f6', 'b-f6', 'a-f6']);
      expect((await store.get('b-f6'))?.status).toBe('deleted');
    });

    it('addRequests under 50 concurrent calls sums exactly and keeps the latest timestamp', async () => {
      await store.create(sampleDeployment('count-g7'));
      const base = Date.parse('2030-05-01T00:00:00.000Z');
      // Timestamps arrive out of order; the latest one must win.
      const calls = Array.from({ length: 50 }, (_, i) => store.addRequests('count-g7', i + 1, new Date(base + ((i * 37) % 50) * 1000).toISOString()));
      await Promise.all(calls);
      const d = await store.get('count-g7');
      expect(d?.request_count).toBe((50 * 51) / 2);
      expect(d?.last_request_at).toBe(new Date(base + 49 * 1000).toISOString());
      await store.addRequests('count-g7', 0, '2029-01-01T00:00:00.000Z');
      expect(await store.get('count-g7')).toMatchObject({ request_count: 1275, last_request_at: new Date(base + 49 * 1000).toISOString() });
    });

    it('addRequests rejects a negative or fractional count and a bad timestamp', async () => {
      await store.create(sampleDeployment('bad-h8'));
      const now = new Date().toISOString();
      expect(await codeOf(store.addRequests('bad-h8', -1, now))).toBe('VALIDATION_FAILED');
      expect(await codeOf(store.addRequests('bad-h8', 1.5, now))).toBe('VALIDATION_FAILED');
      expect(await codeOf(store.addRequests('bad-h8', 1, 'yesterday'))).toBe('VALIDATION_FAILED');
      expect(await store.get('bad-h8')).toMatchObject({ request_count: 0, last_request_at: null });
    });

    it('creating a duplicate id rejects and leaves the first one intact', async () => {
      const first = await store.create(sampleDeployment('dup-i9'));
      expect(await codeOf(store.create(sampleDeployment('dup-i9', { name: 'other' })))).toBe('DEPLOYMENT_EXISTS');
      expect(await store.get('dup-i9')).toStrictEqual(first);
      expect(await store.list()).toHaveLength(1);
    });

    it('returned objects are copies: mutating them does not change the store', async () => {
      const created = await store.create(sampleDeployment('copy-j0'));
      created.tags.push('mutated');
      created.env_schema.length = 0;
      const got = await store.get('copy-j0');
      if (got === undefined || got.spec.type !== 'process') throw new Error('expected a process deployment');
      got.spec.args.push('mutated');
      got.name = 'mutated';
      expect(await store.get('copy-j0')).toMatchObject({ name: 'Server copy-j0', tags: ['alpha', 'beta'], env_schema: sampleDeployment('x').env_schema });
      const again = await store.get('copy-j0');
      expect(again?.spec).toStrictEqual(sampleDeployment('x').spec);
    });

    it('create makes revision 1; addRevision makes the next one and points the deployment at it', async () => {
      const created = await store.create({ ...sampleDeployment('rev-k1'), created_by: 'tok1' });
      expect(created).toMatchObject({ revision: 1, serving_revision: null, generation: 1, observed_generation: 0 });
      const [first] = await store.listRevisions('rev-k1');
      expect(first).toMatchObject({ number: 1, reason: 'create', created_by: 'tok1', spec: created.spec, env_schema: created.env_schema, snapshot: null });
      const spec = { ...created.spec, args: ['two'] } as typeof created.spec;
      const { deployment, revision } = await store.addRevision('rev-k1', { spec, env_schema: [], reason: 'update', from_revision: null, created_by: null });
      expect(revision).toMatchObject({ number: 2, reason: 'update', spec });
      expect(deployment).toMatchObject({ revision: 2, generation: 2, spec, env_schema: [] });
      expect(await store.get('rev-k1')).toStrictEqual(deployment);
      const back = await store.addRevision('rev-k1', { spec: first!.spec, env_schema: first!.env_schema, reason: 'rollback', from_revision: 1, created_by: 'tok2' });
      expect(back.revision).toMatchObject({ number: 3, from_revision: 1, created_by: 'tok2' });
      expect((await store.listRevisions('rev-k1')).map((r) => r.number)).toStrictEqual([3, 2, 1]);
      expect((await store.getRevision('rev-k1', 1))?.spec).toStrictEqual(created.spec);
      expect(await store.getRevision('rev-k1', 9)).toBeUndefined();
      expect(await codeOf(store.addRevision('nope-k1', { spec, env_schema: [], reason: 'update', from_revision: null, created_by: null }))).toBe('DEPLOYMENT_NOT_FOUND');
    });

    it('concurrent addRevision calls get distinct numbers', async () => {
      const created = await store.create(sampleDeployment('rev-race'));
      const made = await Promise.all(
        Array.from({ length: 6 }, () => store.addRevision('rev-race', { spec: created.spec, env_schema: [], reason: 'redeploy', from_revision: null, created_by: null })),
      );
      expect(new Set(made.map((m) => m.revision.number)).size).toBe(6);
      expect((await store.get('rev-race'))?.generation).toBe(7);
    });

    it('setSnapshot keeps what a revision reported; the rest of it never changes', async () => {
      await store.create(sampleDeployment('snap-l2'));
      const snapshot = { initialize: { protocolVersion: '2025-11-25', serverInfo: { name: 'x' } }, lists: { 'tools/list': { tools: [{ name: 'echo' }] } } };
      await store.setSnapshot('snap-l2', 1, snapshot);
      expect((await store.getRevision('snap-l2', 1))?.snapshot).toStrictEqual(snapshot);
      await store.setSnapshot('snap-l2', 1, null);
      expect((await store.getRevision('snap-l2', 1))?.snapshot).toBeNull();
    });

    it('setRevisionImage records the image of one revision and leaves the others alone', async () => {
      const created = await store.create(sampleDeployment('img-l2'));
      await store.addRevision('img-l2', { spec: created.spec, env_schema: [], reason: 'update', from_revision: null, created_by: null });
      await store.setRevisionImage('img-l2', 2, 'registry.test:5000/berth/img-l2:r2@sha256:' + 'a'.repeat(64));
      expect((await store.getRevision('img-l2', 2))?.image).toBe('registry.test:5000/berth/img-l2:r2@sha256:' + 'a'.repeat(64));
      expect((await store.getRevision('img-l2', 1))?.image).toBeNull();
      await store.setRevisionImage('img-l2', 2, 'localhost/berth/img-l2:r2');
      expect((await store.getRevision('img-l2', 2))?.image).toBe('localhost/berth/img-l2:r2');
      await store.setRevisionImage('img-l2', 9, 'nothing'); // no such revision: nothing happens
      expect(await store.listRevisions('img-l2')).toHaveLength(2);
    });

    it('names are unique among live deployments; a deleted one frees its name', async () => {
      await store.create(sampleDeployment('name-a', { name: 'svc' }));
      expect(await codeOf(store.create(sampleDeployment('name-b', { name: 'svc' })))).toBe('NAME_TAKEN');
      expect((await store.findByName('svc'))?.id).toBe('name-a');
      await store.create(sampleDeployment('name-c', { name: 'other' }));
      expect(await codeOf(store.update('name-c', { name: 'svc' }))).toBe('NAME_TAKEN');
      await store.update('name-a', { desired: 'deleted' });
      expect(await store.findByName('svc')).toBeUndefined();
      await store.create(sampleDeployment('name-d', { name: 'svc' }));
      expect((await store.findByName('svc'))?.id).toBe('name-d');
    });

    it('bump_generation and add_restarts add up under concurrent writers', async () => {
      await store.create(sampleDeployment('ctr-m3'));
      await Promise.all(Array.from({ length: 5 }, () => store.update('ctr-m3', { add_restarts: 1, bump_generation: true })));
      expect(await store.get('ctr-m3')).toMatchObject({ restart_count: 5, generation: 6 });
    });
  });
}
