import type { Deployment } from '../core/index.js';
import { alreadyExists, checkRequests, laterOf, monotonicClock, notFound } from './common.js';
import { applyPatch, initialDeployment } from './rows.js';
import { MemoryAuditStore, MemoryTokenStore } from './memory-tokens.js';
import type { DeploymentPatch, DeploymentStore, NewDeployment, Stores } from './types.js';

/** In-memory DeploymentStore with the same behaviour as the SQL one, for other modules' tests. */
export class MemoryDeploymentStore implements DeploymentStore {
  readonly #rows = new Map<string, Deployment>();
  readonly #clock: () => string;

  constructor(options: { now?: () => Date } = {}) {
    this.#clock = monotonicClock(options.now);
  }

  async create(d: NewDeployment): Promise<Deployment> {
    if (this.#rows.has(d.id)) throw alreadyExists(d.id);
    const deployment = structuredClone(initialDeployment(d, this.#clock()));
    this.#rows.set(d.id, deployment);
    return structuredClone(deployment);
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
  return { deployments: new MemoryDeploymentStore(), tokens: new MemoryTokenStore(), audit: new MemoryAuditStore(), close: async () => undefined };
}
