/**
 * Status messages come from errors, and an error can quote what a server or remote said, secret
 * values included. These wrappers mask known values (Redactor) in every status message on its way
 * into the store (so the API and CLI) and onto the event bus.
 */
import type { DomainEvent, EventBus } from '../events/types.js';
import type { DeploymentPatch, DeploymentStore } from '../store/types.js';

export type RedactText = (text: string, deploymentId: string) => string;

export function redactingStore(store: DeploymentStore, redact: RedactText): DeploymentStore {
  const clean = (id: string, patch: DeploymentPatch): DeploymentPatch =>
    typeof patch.status_message === 'string' ? { ...patch, status_message: redact(patch.status_message, id) } : patch;
  return {
    create: (d) => store.create(d),
    get: (id) => store.get(id),
    list: (opts) => store.list(opts),
    update: (id, patch) => store.update(id, clean(id, patch)),
    addRequests: (id, count, lastAt) => store.addRequests(id, count, lastAt),
    findByName: (name) => store.findByName(name),
    addRevision: (id, r) => store.addRevision(id, r),
    listRevisions: (id) => store.listRevisions(id),
    getRevision: (id, n) => store.getRevision(id, n),
    setSnapshot: (id, n, snapshot) => store.setSnapshot(id, n, snapshot),
    setRevisionImage: (id, n, image) => store.setRevisionImage(id, n, image),
    close: () => store.close(),
  };
}

export function redactingBus(bus: EventBus, redact: RedactText): EventBus {
  const clean = (e: DomainEvent): DomainEvent => (e.type === 'DeploymentStatusChanged' && e.message !== null ? { ...e, message: redact(e.message, e.id) } : e);
  return {
    publish: (e) => bus.publish(clean(e)),
    subscribe: (handler) => bus.subscribe(handler),
    close: () => bus.close(),
  };
}
