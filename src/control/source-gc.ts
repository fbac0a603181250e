/**
 * Garbage collection of the source store (README "Deploy from source"): a stored tree that no revision of a live
 * deployment names goes once it was last uploaded longer ago than `keepUnusedMs`, so an upload waiting to be
 * deployed (POST /api/sources, then a deploy by digest) keeps that long, and rollback targets are never touched.
 * A pass runs a minute after start and then every `everyMs`; passes never overlap.
 */
import type { SourceStore } from '../sources/index.js';
import type { DeploymentStore } from '../store/types.js';

export interface SourceGcDeps {
  sources: Pick<SourceStore, 'list' | 'remove'>;
  /** Every source digest a revision of a live (not deleted) deployment names. */
  referenced(): Promise<Set<string>>;
  keepUnusedMs: number;
  log(line: string): void;
  now?(): number;
}

export interface SourceGcPass {
  removed: string[];
  bytes: number;
  kept: number;
}

export class SourceGc {
  private pass: Promise<SourceGcPass> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly deps: SourceGcDeps) {}

  /** One pass (a call while one runs gets that one). */
  collect(): Promise<SourceGcPass> {
    this.pass ??= this.run().finally(() => (this.pass = null));
    return this.pass;
  }

  start(everyMs: number, firstMs = 60_000): void {
    const tick = (ms: number): void => {
      this.timer = setTimeout(() => {
        void this.collect()
          .catch((err: unknown) => this.deps.log(`source garbage collection failed: ${err instanceof Error ? err.message : String(err)}`))
          .finally(() => {
            if (this.timer) tick(everyMs);
          });
      }, ms);
      this.timer.unref();
    };
    tick(firstMs);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async run(): Promise<SourceGcPass> {
    const now = this.deps.now?.() ?? Date.now();
    // The trees first, then what is named: a tree stored (and deployed) in between is recent, so it is kept.
    const trees = await this.deps.sources.list();
    const named = await this.deps.referenced();
    const out: SourceGcPass = { removed: [], bytes: 0, kept: 0 };
    for (const t of trees) {
      if (named.has(t.digest) || now - t.storedAt < this.deps.keepUnusedMs) {
        out.kept++;
        continue;
      }
      await this.deps.sources.remove(t.digest);
      out.removed.push(t.digest);
      out.bytes += t.bytes;
    }
    if (out.removed.length > 0) this.deps.log(`source store: removed ${out.removed.length} unused trees (${out.bytes} bytes); ${out.kept} kept`);
    return out;
  }
}

/** The source digests named by a revision of a deployment that is not deleted (a rollback target counts). */
export async function sourceDigestsInUse(deployments: Pick<DeploymentStore, 'list' | 'listRevisions'>): Promise<Set<string>> {
  const named = new Set<string>();
  for (const d of await deployments.list()) {
    if (d.spec.type === 'source' && d.spec.source.digest) named.add(d.spec.source.digest);
    for (const r of await deployments.listRevisions(d.id)) if (r.source_digest) named.add(r.source_digest);
  }
  return named;
}
