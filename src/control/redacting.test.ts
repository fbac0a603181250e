import { describe, expect, it } from 'vitest';
import type { DomainEvent } from '../events/types.js';
import { MemoryEventBus } from '../events/memory-bus.js';
import { MemoryDeploymentStore } from '../store/memory-store.js';
import { sampleDeployment } from '../store/store.contract.js';
import { redactingBus, redactingStore } from './redacting.js';

const redact = (text: string, id: string) => text.replaceAll(`${id}-secret`, '[redacted]');

describe('status messages are redacted on their way into the store and onto the bus', () => {
  it('masks status_message in updates and leaves every other field and call alone', async () => {
    const store = redactingStore(new MemoryDeploymentStore(), redact);
    await store.create(sampleDeployment('d1'));
    const updated = await store.update('d1', { status: 'failed', status_message: 'remote said: bad token d1-secret' });
    expect(updated.status_message).toBe('remote said: bad token [redacted]');
    expect((await store.get('d1'))?.status_message).toBe('remote said: bad token [redacted]');
    expect((await store.update('d1', { status_message: null })).status_message).toBeNull();
    await store.addRequests('d1', 3, new Date().toISOString());
    expect((await store.list()).map((d) => [d.id, d.request_count])).toStrictEqual([['d1', 3]]);
  });

  it('masks DeploymentStatusChanged messages', async () => {
    const bus = redactingBus(new MemoryEventBus(), redact);
    const seen: DomainEvent[] = [];
    bus.subscribe((e) => void seen.push(e));
    await bus.publish({ type: 'DeploymentStatusChanged', id: 'd1', status: 'failed', message: 'failed: d1-secret', at: 'now' });
    await bus.publish({ type: 'DeploymentStatusChanged', id: 'd1', status: 'running', message: null, at: 'now' });
    await bus.publish({ type: 'DeploymentCreated', id: 'd1', at: 'now' });
    expect(seen).toStrictEqual([
      { type: 'DeploymentStatusChanged', id: 'd1', status: 'failed', message: 'failed: [redacted]', at: 'now' },
      { type: 'DeploymentStatusChanged', id: 'd1', status: 'running', message: null, at: 'now' },
      { type: 'DeploymentCreated', id: 'd1', at: 'now' },
    ]);
    await bus.close();
  });
});
