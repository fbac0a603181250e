import type { Deployment, Revision } from '../core/index.js';
import { alreadyExists, checkRequests, laterOf, monotonicClock, nameTaken, notFound } from './common.js';
import { applyPatch, initialDeployment, newRevision } from './rows.js';
import { MemoryIdempotencyStore } from './memory-idempotency.js';
import { MemoryAuditStore, MemoryTokenStore } from './memory-tokens.js';
import { MemoryGroupStore } from './groups.js';
import { MemoryEmbeddingStore } from './embeddings.js';
import type { DeploymentPatch, DeploymentStore, NewDeployment, NewRevision, Stores } from './types.js';

/** In-memory DeploymentStore with the same behaviour as the SQL one, for other modules' tests. */
export class MemoryDeploymentStore implements DeploymentStore {
  readonly #rows = new Map<string, Deployment>();
  readonly #revisions = new Map<string, Revision[]>();
  readonly #clock: () => string;

  constructor(options: { now?: () => Date } = {}) {
    this.#clock = monotonicClock(options.now);
  }

  async create(d: NewDeployment): Promise<Deployment> {
    if (this.#rows.has(d.id)) throw alreadyExists(d.id);
    if (this.#live(d.name)) throw nameTaken(d.name);
    const deployment = structuredClone(initialDeployment(d, this.#clock()));
    this.#rows.set(d.id, deployment);
    const first = { spec: d.spec, env_schema: d.env_schema, reason: 'create' as const, from_revision: null, created_by: d.created_by ?? null };
    this.#revisions.set(d.id, [structuredClone(newRevision(d.id, 1, first, deployment.created_at))]);
    return structuredClone(deployment);
  }

  #live(name: string, except?: string): Deployment | undefined {
    return [...this.#rows.values()].find((r) => r.name === name && r.desired !== 'deleted' && r.id !== except);
  }

  async findByName(name: string): Promise<Deployment | undefined> {
    const row = this.#live(name);
    return row === undefined ? undefined : structuredClone(row);
  }

  async addRevision(id: string, r: NewRevision): Promise<{ deployment: Deployment; revision: Revision }> {
    const row = this.#rows.get(id);
    if (row === undefined) throw notFound(id);
    const list = this.#revisions.get(id) ?? [];
    const now = this.#clock();
    const revision = newRevision(id, list.reduce((m, x) => Math.max(m, x.number), 0) + 1, structuredClone(r), now);
    list.push(revision);
    this.#revisions.set(id, list);
    const next: Deployment = { ...row, spec: structuredClone(r.spec), env_schema: structuredClone(r.env_schema), revision: revision.number, generation: row.generation + 1, updated_at: now };
    this.#rows.set(id, next);
    return { deployment: structuredClone(next), revision: structuredClone(revision) };
  }

  async listRevisions(id: string): Promise<Revision[]> {
    return [...(this.#revisions.get(id) ?? [])].sort((a, b) => b.number - a.number).map((r) => structuredClone(r));
  }

  async getRevision(id: string, number: number): Promise<Revision | undefined> {
    const r = this.#revisions.get(id)?.find((x) => x.number === number);
    return r && structuredClone(r);
  }

  async setSnapshot(id: string, number: number, snapshot: Record<string, unknown> | null): Promise<void> {
    const r = this.#revisions.get(id)?.find((x) => x.number === number);
    if (r) r.snapshot = structuredClone(snapshot);
  }

  async setRevisionImage(id: string, number: number, image: string): Promise<void> {
    const r = this.#revisions.get(id)?.find((x) => x.number === number);
    if (r) r.image = image;
  }

  async get(id: string): Promise<Deployment | undefined> {
    const row = this.#rows.get(id);
    return row === undefined ? undefined : structuredClone(row);
  }

  async list(opts: { includeDeleted?: boolean } = {}): Promise<Deployment[]> {
    return [...this.#rows.values()]
      .filter((d) => opts.includeDeleted === true || d.status !== 'deleted')
      .sort((a, b) => compareDesc(a.created_at, b.created_at) || compareDesc(a.id, b.id))
      .map((d) => structuredClone(d));
  }

  async update(id: string, patch: DeploymentPatch): Promise<Deployment> {
    const row = this.#rows.get(id);
    if (row === undefined) throw notFound(id);
    if (patch.name !== undefined && this.#live(patch.name, id)) throw nameTaken(patch.name);
    const next = structuredClone(applyPatch(row, patch, this.#clock()));
    this.#rows.set(id, next);
    return structuredClone(next);
  }

  async addRequests(id: string, count: number, lastAt: string): Promise<void> {
    const at = checkRequests(count, lastAt);
    const row = this.#rows.get(id);
    if (row === undefined) throw notFound(id);
    row.request_count += count;
    row.last_request_at = laterOf(row.last_request_at, at);
  }

  async close(): Promise<void> {
    // Nothing to release; kept for interface parity.
  }
}

function compareDesc(a: string, b: string): number {
  return a < b ? 1 : a > b ? -1 : 0;
}

/** Every store in memory, for tests of the layers above. */
export function memoryStores(): Stores {
  return {
    embeddings: new MemoryEmbeddingStore(),
    groups: new MemoryGroupStore(),
    deployments: new MemoryDeploymentStore(),
    tokens: new MemoryTokenStore(),
    audit: new MemoryAuditStore(),
    idempotency: new MemoryIdempotencyStore(),
    close: async () => undefined,
  };
}
