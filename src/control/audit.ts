import type { Principal } from '../core/index.js';
import type { AuditEntry, AuditQuery, AuditResult, AuditStore } from '../store/types.js';

export interface AuditRecord {
  principal: Pick<Principal, 'id' | 'name'>;
  action: string;
  target?: string | null;
  source?: string | null;
  result: AuditResult;
  code?: string | null;
  detail?: Record<string, unknown> | null;
}

export interface AuditLogDeps {
  store: AuditStore;
  now?: () => number;
  /** Refused credentials written per client address: a burst, then this many per second (defaults 20 and 1). */
  deniedBurst?: number;
  deniedPerSecond?: number;
  /** Most client addresses tracked for that limit (default 10 000). */
  maxSources?: number;
  /** Most writes waiting for the store (default 10 000); beyond it entries are dropped, counted and logged. */
  maxPending?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

interface Bucket {
  tokens: number;
  at: number;
  suppressed: number;
}

/**
 * Writes the audit log: every mutation (by the API's routes) and every refused credential. Refusals
 * are what an attacker can produce at will, so each client address gets a budget; what goes over it is
 * counted and written as one `auth.denied.suppressed` entry when that address is next let through or
 * at the next flush, so the log says how much it left out instead of growing without bound.
 */
export class AuditLog {
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();
  private readonly burst: number;
  private readonly rate: number;
  private readonly maxSources: number;
  private readonly pending = new Set<Promise<void>>();
  private readonly maxPending: number;
  private dropped = 0;

  constructor(private readonly deps: AuditLogDeps) {
    this.now = deps.now ?? Date.now;
    this.burst = deps.deniedBurst ?? 20;
    this.rate = deps.deniedPerSecond ?? 1;
    this.maxSources = deps.maxSources ?? 10_000;
    this.maxPending = deps.maxPending ?? 10_000;
  }

  /** Appends an entry (in the background; a failure is logged, never thrown at the request). */
  record(r: AuditRecord): void {
    this.write({
      at: new Date(this.now()).toISOString(),
      actor: r.principal.id,
      actor_name: r.principal.name,
      action: r.action,
      target: r.target ?? null,
      source: r.source ?? null,
      result: r.result,
      code: r.code ?? null,
      detail: r.detail ?? null,
    });
  }

  /** A refused credential or scope: written within the address's budget, counted beyond it. */
  denied(r: Omit<AuditRecord, 'result'>): void {
    const source = r.source ?? 'unknown';
    const now = this.now();
    let b = this.buckets.get(source);
    if (!b) {
      if (this.buckets.size >= this.maxSources) this.evictOne();
      b = { tokens: this.burst, at: now, suppressed: 0 };
      this.buckets.set(source, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    if (b.tokens < 1) {
      b.suppressed++;
      return;
    }
    b.tokens -= 1;
    this.flushSuppressed(source, b);
    this.record({ ...r, result: 'denied' });
  }

  query(q: AuditQuery): Promise<AuditEntry[]> {
    return this.deps.store.queryAudit(q);
  }

  /** Writes what was suppressed so far and waits for every write in flight (Berth stopping, tests). */
  async flush(): Promise<void> {
    for (const [source, b] of this.buckets) this.flushSuppressed(source, b);
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private flushSuppressed(source: string, b: Bucket): void {
    if (b.suppressed === 0) return;
    const count = b.suppressed;
    b.suppressed = 0;
    this.record({ principal: { id: 'anonymous', name: 'anonymous' }, action: 'auth.denied.suppressed', source, result: 'denied', detail: { count } });
  }

  private evictOne(): void {
    const [source, b] = this.buckets.entries().next().value ?? [];
    if (source === undefined || !b) return;
    this.flushSuppressed(source, b);
    this.buckets.delete(source);
  }

  private write(e: Omit<AuditEntry, 'seq'>): void {
    if (this.pending.size >= this.maxPending) {
      // The store is not keeping up: say so (once per thousand) rather than hold entries without bound.
      if (this.dropped++ % 1000 === 0) this.deps.log?.('audit entries dropped: the store is not keeping up', { dropped: this.dropped, action: e.action });
      return;
    }
    const p = this.deps.store.appendAudit(e).catch((err: unknown) => this.deps.log?.('audit entry not written', { action: e.action, error: String(err) }));
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
