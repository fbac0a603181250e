import { LostSignal, thisProcess, type Lease, type LeaseHolder } from './types.js';

/** What several `MemoryLease`s compete for (one per "store"). */
export class MemoryLeaseBoard {
  holder: MemoryLease | null = null;
}

/** An in-process lease: for tests and for Berths whose stores are given in memory (nothing else shares them). */
export class MemoryLease implements Lease {
  readonly #board: MemoryLeaseBoard;
  readonly #self: Omit<LeaseHolder, 'started_at'>;
  readonly #lost = new LostSignal();
  #since: string | null = null;

  constructor(board: MemoryLeaseBoard = new MemoryLeaseBoard(), self: Omit<LeaseHolder, 'started_at'> = thisProcess()) {
    this.#board = board;
    this.#self = self;
  }

  get held(): boolean {
    return this.#board.holder === this;
  }

  async acquire(): Promise<boolean> {
    if (this.held) return true;
    if (this.#board.holder !== null) return false;
    this.#board.holder = this;
    this.#since = new Date().toISOString();
    return true;
  }

  async release(): Promise<void> {
    if (this.held) this.#board.holder = null;
  }

  async holder(): Promise<LeaseHolder | null> {
    const h = this.#board.holder;
    return h === null ? null : { ...h.#self, started_at: h.#since };
  }

  onLost(listener: (reason: string) => void): () => void {
    return this.#lost.subscribe(listener);
  }

  /** Takes the lease away as a dropped connection would (tests). */
  revoke(reason = 'revoked'): void {
    if (!this.held) return;
    this.#board.holder = null;
    this.#lost.fire(reason);
  }
}
