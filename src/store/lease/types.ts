import { hostname } from 'node:os';

/** Who holds a lease, for messages ("the Berth at pid N on HOST"). */
export interface LeaseHolder {
  pid: number;
  host: string;
  /** When that Berth took the lease (ISO-8601), when known. */
  started_at: string | null;
}

/**
 * The right to reconcile one store. At most one Berth holds it; the others are standbys that keep
 * trying. Drivers: `PgLease` (a session advisory lock), `FileLease` (a lock file beside a SQLite
 * database), `MemoryLease` (tests and stores given in memory). All pass `lease.contract.ts`.
 */
export interface Lease {
  /** One try, never waiting for the holder: true when this process holds the lease now (also when it already did). */
  acquire(): Promise<boolean>;
  /** Whether this process holds the lease, as far as it knows (a loss is reported through `onLost`). */
  readonly held: boolean;
  /** Gives the lease up (no-op when not held); another Berth may take it at once. */
  release(): Promise<void>;
  /** Who holds the lease, when known (this process when `held`); null when nobody or unknown. */
  holder(): Promise<LeaseHolder | null>;
  /**
   * Calls `listener` when a held lease is lost without `release` (its connection dropped, its lock file
   * was taken or removed). The holder must stop reconciling at once. Returns an unsubscribe function.
   */
  onLost(listener: (reason: string) => void): () => void;
}

/** This process, as a lease holder. */
export function thisProcess(): Omit<LeaseHolder, 'started_at'> {
  return { pid: process.pid, host: hostname() };
}

/** Listeners of `onLost`, and the once-only firing a driver needs. */
export class LostSignal {
  readonly #listeners = new Set<(reason: string) => void>();

  subscribe(listener: (reason: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  fire(reason: string): void {
    for (const l of [...this.#listeners]) {
      try {
        l(reason);
      } catch {
        /* a listener's failure must not keep the others from hearing */
      }
    }
  }
}
