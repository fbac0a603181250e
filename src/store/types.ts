import type { Deployment, DeploymentAccess, DeploymentStatus, DesiredState, Group, Revision, Scope, ToolSummary } from '../core/index.js';

/** A new deployment: its revision 1 is made with it (`created_by` is recorded on that revision). */
export type NewDeployment = Omit<
  Deployment,
  | 'request_count'
  | 'last_request_at'
  | 'tools'
  | 'restart_count'
  | 'created_at'
  | 'updated_at'
  | 'started_at'
  | 'stopped_at'
  | 'deleted_at'
  | 'revision'
  | 'serving_revision'
  | 'generation'
  | 'observed_generation'
> & { created_by?: string | null };

/** A new revision of a deployment; its number is the next one. */
export type NewRevision = Pick<Revision, 'spec' | 'env_schema' | 'reason' | 'from_revision' | 'created_by'> &
  Partial<Pick<Revision, 'source_digest' | 'image'>>;

export interface DeploymentPatch {
  name?: string;
  description?: string | null;
  tags?: string[];
  access?: DeploymentAccess;
  serving_revision?: number | null;
  observed_generation?: number;
  /** Adds one to generation (a change of what the user wants: start, stop, restart, rm). */
  bump_generation?: true;
  /** Adds this to restart_count in the same statement (no read-modify-write). */
  add_restarts?: number;
  desired?: DesiredState;
  status?: DeploymentStatus;
  status_message?: string | null;
  tools?: ToolSummary[] | null;
  restart_count?: number;
  started_at?: string | null;
  stopped_at?: string | null;
  deleted_at?: string | null;
}

/** Persistence of deployments. SQLite and PostgreSQL implement it through one query layer. */
export interface DeploymentStore {
  create(d: NewDeployment): Promise<Deployment>;
  /** Returns undefined for unknown ids (deleted ones are returned with status `deleted`). */
  get(id: string): Promise<Deployment | undefined>;
  /** Newest first; deleted deployments only when asked. */
  list(opts?: { includeDeleted?: boolean }): Promise<Deployment[]>;
  /** Applies the patch, bumps updated_at, returns the new row; throws DEPLOYMENT_NOT_FOUND. */
  update(id: string, patch: DeploymentPatch): Promise<Deployment>;
  /** Adds `count` to request_count and sets last_request_at (batched by the gateway). */
  addRequests(id: string, count: number, lastAt: string): Promise<void>;
  /** The live (not deleted, not being deleted) deployment with this name. */
  findByName(name: string): Promise<Deployment | undefined>;
  /**
   * Makes the next revision and points the deployment at it (spec, env_schema, revision, generation + 1),
   * in one transaction. Throws DEPLOYMENT_NOT_FOUND.
   */
  addRevision(id: string, r: NewRevision): Promise<{ deployment: Deployment; revision: Revision }>;
  /** Newest first. */
  listRevisions(id: string): Promise<Revision[]>;
  getRevision(id: string, number: number): Promise<Revision | undefined>;
  /** Records what the revision's server reported (with the image below, the only fields of a revision that change). */
  setSnapshot(id: string, number: number, snapshot: Record<string, unknown> | null): Promise<void>;
  /** Records the image built for the revision (`REF`, or `REF@sha256:…` once pushed); set once per build. */
  setRevisionImage(id: string, number: number, image: string): Promise<void>;
  close(): Promise<void>;
}

/** What claiming an Idempotency-Key found. */
export type IdempotencyClaim =
  | { state: 'claimed' }
  | { state: 'pending' }
  | { state: 'mismatch' }
  | { state: 'done'; statusCode: number; response: unknown };

/** Keys of create requests, so a retried POST gets the first answer instead of a second deployment. */
export interface IdempotencyStore {
  /** Claims `key` for this principal and request hash, or says what an earlier request with it left. */
  claimIdempotencyKey(principal: string, key: string, requestHash: string, at: string): Promise<IdempotencyClaim>;
  finishIdempotencyKey(principal: string, key: string, statusCode: number, response: unknown): Promise<void>;
  /** Forgets a claim whose request failed, so a retry runs again. */
  releaseIdempotencyKey(principal: string, key: string): Promise<void>;
  /** Forgets keys older than `before` (ISO-8601); returns how many. */
  purgeIdempotencyKeys(before: string): Promise<number>;
}

/** A stored API token. The token itself is never stored: only its SHA-256 (`hash`). */
export interface TokenRecord {
  id: string;
  name: string;
  hash: string;
  /** `brt_` and the next 4 characters, to tell tokens apart in a listing. */
  prefix: string;
  scopes: Scope[];
  created_at: string;
  /** The id of the token that created it (`env`, `bootstrap` for the first admin token). */
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export type NewToken = Omit<TokenRecord, 'revoked_at' | 'last_used_at'>;

/** Persistence of API tokens. */
export interface TokenStore {
  /** Throws VALIDATION_FAILED when the id or hash exists already. */
  createToken(t: NewToken): Promise<TokenRecord>;
  findTokenByHash(hash: string): Promise<TokenRecord | undefined>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  /** Oldest first. */
  listTokens(): Promise<TokenRecord[]>;
  /** Sets revoked_at (once: revoking again keeps the first time); throws TOKEN_NOT_FOUND. */
  revokeToken(id: string, at: string): Promise<TokenRecord>;
  /** Records use (last_used_at only moves forward); unknown ids are ignored. */
  touchToken(id: string, at: string): Promise<void>;
}

export type AuditResult = 'ok' | 'denied' | 'error';

/** One line of the audit log: who did what to which target, when, from where, and how it ended. */
export interface AuditEntry {
  /** Order of appending, from 1. */
  seq: number;
  at: string;
  /** Token id, `env`, or `anonymous`. */
  actor: string;
  actor_name: string;
  /** e.g. `deployment.create`, `token.revoke`, `auth.denied`. */
  action: string;
  target: string | null;
  /** The client's address. */
  source: string | null;
  result: AuditResult;
  /** The error code when result is not `ok`. */
  code: string | null;
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  /** Entries at or after this time (ISO-8601). */
  since?: string;
  until?: string;
  actor?: string;
  action?: string;
  target?: string;
  result?: AuditResult;
  /** Entries with seq greater than this (for paging). */
  afterSeq?: number;
  /** At most this many, oldest first (default 1000). */
  limit?: number;
}

/** The append-only audit log: there is no way to change or remove an entry. */
export interface AuditStore {
  appendAudit(entry: Omit<AuditEntry, 'seq'>): Promise<void>;
  queryAudit(q: AuditQuery): Promise<AuditEntry[]>;
}

/** Groups (virtual servers): kept whole, replaced whole. */
export interface GroupStore {
  listGroups(): Promise<Group[]>;
  getGroup(name: string): Promise<Group | undefined>;
  /** GROUP_EXISTS when the name is taken. */
  createGroup(g: Omit<Group, 'created_at' | 'updated_at'>): Promise<Group>;
  /** GROUP_NOT_FOUND when there is none; updated_at moves. */
  updateGroup(name: string, patch: Partial<Pick<Group, 'description' | 'access' | 'spec'>>): Promise<Group>;
  /** GROUP_NOT_FOUND when there is none. */
  removeGroup(name: string): Promise<void>;
}

/** Embedding vectors by key (sha256 of model and text): written once, read many times. */
export interface EmbeddingStore {
  /** The vectors of those keys that are stored. */
  getVectors(keys: string[]): Promise<Map<string, number[]>>;
  /** Stores vectors (a key stored already keeps its vector). */
  putVectors(model: string, entries: { key: string; vector: number[] }[]): Promise<void>;
}

/** Every store Berth keeps, over one database. */
export interface Stores {
  embeddings: EmbeddingStore;
  groups: GroupStore;
  deployments: DeploymentStore;
  tokens: TokenStore;
  audit: AuditStore;
  idempotency: IdempotencyStore;
  close(): Promise<void>;
}
