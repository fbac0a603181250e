import { describe, expect, it } from 'vitest';
import { MemoryEventBus } from './memory-bus.js';
import type { DomainEvent } from './types.js';

describe('MemoryEventBus', () => {
  it('delivers to every subscriber asynchronously, and not after unsubscribe', async () => {
    const bus = new MemoryEventBus();
    const a: DomainEvent[] = [];
    const b: DomainEvent[] = [];
    const offA = bus.subscribe((e) => void a.push(e));
    bus.subscribe((e) => void b.push(e));
    const ev: DomainEvent = { type: 'DeploymentCreated', id: 'x', at: new Date().toISOString() };
    const published = bus.publish(ev);
    expect(a).toEqual([]); // not run inside publish()
    await published;
    await new Promise((r) => setTimeout(r, 0));
    expect(a).toEqual([ev]);
    expect(b).toEqual([ev]);
    offA();
    await bus.publish(ev);
    await new Promise((r) => setTimeout(r, 0));
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(2);
  });

  it('isolates a throwing handler and reports its error', async () => {
    const errors: unknown[] = [];
    const bus = new MemoryEventBus((e) => errors.push(e));
    const got: string[] = [];
    bus.subscribe(() => {
      throw new Error('boom');
    });
    bus.subscribe((e) => void got.push(e.id));
    await bus.publish({ type: 'DeploymentDeleted', id: 'y', at: '' });
    await new Promise((r) => setTimeout(r, 0));
    expect(got).toEqual(['y']);
    expect(String(errors[0])).toContain('boom');
  });
});
