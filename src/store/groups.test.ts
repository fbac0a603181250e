import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroupSpecSchema, type Group } from '../core/index.js';
import { MemoryGroupStore } from './groups.js';
import { withPostgres } from './testing/postgres.js';
import { postgresStores, sqliteStores } from './testing/fixtures.js';
import type { GroupStore } from './types.js';

interface Fixture {
  groups: GroupStore;
  cleanup(): Promise<void>;
}

const spec = (ids: string[]) => GroupSpecSchema.parse({ members: ids.map((deployment) => ({ deployment, deny: ['danger'], rename: { read: 'read_file' } })) });

function runGroupStoreContract(name: string, make: () => Promise<Fixture>): void {
  describe(`GroupStore contract: ${name}`, () => {
    let f: Fixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.cleanup();
    });

    it('creates, reads, lists by name, updates (updated_at moves) and removes a group; the spec comes back as it went in', async () => {
      const made = await f.groups.createGroup({ name: 'tools', description: 'ünïcode', access: 'private', spec: spec(['fs-aaaaaaaaaaaa', 'mem-bbbbbbbbbbbb']) });
      expect(made.created_at).toBe(made.updated_at);
      await f.groups.createGroup({ name: 'alpha', description: null, access: 'public', spec: spec(['fs-aaaaaaaaaaaa']) });
      expect((await f.groups.listGroups()).map((g) => g.name)).toEqual(['alpha', 'tools']);
      const got = (await f.groups.getGroup('tools'))!;
      expect(got).toEqual<Group>(made);
      expect(got.spec.members[1]).toMatchObject({ deployment: 'mem-bbbbbbbbbbbb', deny: ['danger'], rename: { read: 'read_file' } });
      const changed = await f.groups.updateGroup('tools', { access: 'public', spec: spec(['mem-bbbbbbbbbbbb']) });
      expect(changed).toMatchObject({ name: 'tools', access: 'public', description: 'ünïcode', created_at: made.created_at });
      expect(changed.updated_at > made.updated_at).toBe(true);
      expect(changed.spec.members.map((m) => m.deployment)).toEqual(['mem-bbbbbbbbbbbb']);
      await f.groups.removeGroup('tools');
      expect(await f.groups.getGroup('tools')).toBeUndefined();
      expect((await f.groups.listGroups()).map((g) => g.name)).toEqual(['alpha']);
    });

    it('refuses a second group of a name (GROUP_EXISTS), and an update or removal of none (GROUP_NOT_FOUND)', async () => {
      await f.groups.createGroup({ name: 'dup', description: null, access: 'private', spec: spec(['a-aaaaaaaaaaaa']) });
      await expect(f.groups.createGroup({ name: 'dup', description: null, access: 'private', spec: spec(['b-aaaaaaaaaaaa']) })).rejects.toMatchObject({ code: 'GROUP_EXISTS' });
      await expect(f.groups.updateGroup('nope', { access: 'public' })).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
      await expect(f.groups.removeGroup('nope')).rejects.toMatchObject({ code: 'GROUP_NOT_FOUND' });
      expect((await f.groups.getGroup('dup'))!.spec.members[0]!.deployment).toBe('a-aaaaaaaaaaaa');
    });
  });
}

runGroupStoreContract('memory', async () => ({ groups: new MemoryGroupStore(), cleanup: async () => undefined }));

runGroupStoreContract('sqlite', async () => {
  const f = await sqliteStores();
  return { groups: f.stores.groups, cleanup: f.cleanup };
});

await withPostgres('the GroupStore contract', () => {
  runGroupStoreContract('postgres', async () => {
    const f = await postgresStores();
    return { groups: f.stores.groups, cleanup: f.cleanup };
  });
});
