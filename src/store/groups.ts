/** GroupStore in memory (tests, and the layers above) and on SQLite or PostgreSQL (one set of queries). */
import type { Kysely } from 'kysely';
import { BerthError, GroupSpecSchema, type Group } from '../core/index.js';
import { isUniqueViolation, monotonicClock } from './common.js';
import type { BerthDatabase, GroupsTable } from './schema.js';
import type { GroupStore } from './types.js';

function groupNotFound(name: string): BerthError {
  return new BerthError('GROUP_NOT_FOUND', `No group named ${JSON.stringify(name)}`, { name });
}

function groupExists(name: string): BerthError {
  return new BerthError('GROUP_EXISTS', `A group named ${JSON.stringify(name)} exists already; pick another name, or update that one (berth group update ${name})`, { name });
}

type NewGroup = Omit<Group, 'created_at' | 'updated_at'>;
type GroupPatch = Partial<Pick<Group, 'description' | 'access' | 'spec'>>;

export class MemoryGroupStore implements GroupStore {
  private readonly groups = new Map<string, Group>();
  private readonly clock = monotonicClock();

  async listGroups(): Promise<Group[]> {
    return [...this.groups.values()].sort((a, b) => a.name.localeCompare(b.name)).map((g) => structuredClone(g));
  }

  async getGroup(name: string): Promise<Group | undefined> {
    const g = this.groups.get(name);
    return g && structuredClone(g);
  }

  async createGroup(g: NewGroup): Promise<Group> {
    if (this.groups.has(g.name)) throw groupExists(g.name);
    const at = this.clock();
    const made: Group = { ...structuredClone(g), created_at: at, updated_at: at };
    this.groups.set(g.name, made);
    return structuredClone(made);
  }

  async updateGroup(name: string, patch: GroupPatch): Promise<Group> {
    const g = this.groups.get(name);
    if (!g) throw groupNotFound(name);
    const next: Group = { ...g, ...structuredClone(patch), updated_at: this.clock() };
    this.groups.set(name, next);
    return structuredClone(next);
  }

  async removeGroup(name: string): Promise<void> {
    if (!this.groups.delete(name)) throw groupNotFound(name);
  }
}

function fromRow(r: GroupsTable): Group {
  return { name: r.name, description: r.description, access: r.access === 'public' ? 'public' : 'private', spec: GroupSpecSchema.parse(JSON.parse(r.spec)), created_at: r.created_at, updated_at: r.updated_at };
}

export class SqlGroupStore implements GroupStore {
  private readonly clock = monotonicClock();

  constructor(private readonly db: Kysely<BerthDatabase>) {}

  async listGroups(): Promise<Group[]> {
    return (await this.db.selectFrom('groups').selectAll().orderBy('name', 'asc').execute()).map(fromRow);
  }

  async getGroup(name: string): Promise<Group | undefined> {
    const row = await this.db.selectFrom('groups').selectAll().where('name', '=', name).executeTakeFirst();
    return row && fromRow(row);
  }

  async createGroup(g: NewGroup): Promise<Group> {
    const at = this.clock();
    try {
      await this.db.insertInto('groups').values({ name: g.name, description: g.description, access: g.access, spec: JSON.stringify(g.spec), created_at: at, updated_at: at }).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw groupExists(g.name);
      throw err;
    }
    return { ...structuredClone(g), created_at: at, updated_at: at };
  }

  async updateGroup(name: string, patch: GroupPatch): Promise<Group> {
    const set: Partial<GroupsTable> = { updated_at: this.clock() };
    if (patch.description !== undefined) set.description = patch.description;
    if (patch.access !== undefined) set.access = patch.access;
    if (patch.spec !== undefined) set.spec = JSON.stringify(patch.spec);
    const r = await this.db.updateTable('groups').set(set).where('name', '=', name).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw groupNotFound(name);
    return (await this.getGroup(name))!;
  }

  async removeGroup(name: string): Promise<void> {
    const r = await this.db.deleteFrom('groups').where('name', '=', name).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw groupNotFound(name);
  }
}
