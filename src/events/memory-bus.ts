import type { DomainEvent, EventBus } from './types.js';

/** In-process bus: the embedded default. Delivery is asynchronous so publishers never run handlers inline. */
export class MemoryEventBus implements EventBus {
  private readonly handlers = new Set<(event: DomainEvent) => void | Promise<void>>();

  constructor(private readonly onError: (err: unknown) => void = () => {}) {}

  async publish(event: DomainEvent): Promise<void> {
    const handlers = [...this.handlers];
    queueMicrotask(() => {
      for (const h of handlers) {
        try {
          const r = h(event);
          if (r && typeof r.then === 'function') r.then(undefined, this.onError);
        } catch (err) {
          this.onError(err);
        }
      }
    });
  }

  subscribe(handler: (event: DomainEvent) => void | Promise<void>): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
