import type { DeploymentStatus } from '../core/index.js';

/** Domain events (seed 001). The store is the truth; events only wake consumers early. */
export type DomainEvent =
  | { type: 'DeploymentCreated'; id: string; at: string }
  | { type: 'DeploymentDesiredChanged'; id: string; desired: 'running' | 'stopped' | 'deleted'; at: string }
  /** What the user wants changed otherwise: a new revision (update, redeploy, rollback) or a restart. */
  | { type: 'DeploymentChanged'; id: string; generation: number; revision: number; at: string }
  | { type: 'DeploymentStatusChanged'; id: string; status: DeploymentStatus; message: string | null; at: string }
  | { type: 'DeploymentDeleted'; id: string; at: string };

export interface EventBus {
  publish(event: DomainEvent): Promise<void>;
  /** Returns an unsubscribe function. Handlers must not throw (errors are logged and swallowed). */
  subscribe(handler: (event: DomainEvent) => void | Promise<void>): () => void;
  close(): Promise<void>;
}
