import type { Generated } from 'kysely';
import type { AuditEntry } from './types.js';

/** Row shapes of the tables, as Kysely sees them. Timestamps are ISO-8601 text in every dialect. */
export interface DeploymentsTable {
  id: string;
  name: string;
  description: string | null;
  /** JSON text: string[] */
  tags: string;
  /** JSON text: EnvVar[] */
  env_schema: string;
  /** JSON text: DeploymentSpec */
  spec: string;
  desired: string;
  status: string;
  status_message: string | null;
  /** bigint: the pg driver returns it as a string, SQLite as a number. */
  request_count: number | string;
  last_request_at: string | null;
  /** JSON text: ToolSummary[] | null */
  tools: string | null;
  restart_count: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  stopped_at: string | null;
  deleted_at: string | null;
  /** `private` or `public` (anonymous MCP clients allowed). */
  access: string;
  revision: number;
  serving_revision: number | null;
  generation: number;
  observed_generation: number;
}

export interface RevisionsTable {
  deployment_id: string;
  number: number;
  /** JSON text: DeploymentSpec (secret references only) */
  spec: string;
  /** JSON text: EnvVar[] */
  env_schema: string;
  reason: string;
  from_revision: number | null;
  created_by: string | null;
  created_at: string;
  source_digest: string | null;
  image: string | null;
  /** JSON text or null: what the revision's server last reported (initialize and list results). */
  snapshot: string | null;
}

/** POST /api/deployments requests by Idempotency-Key, per principal: a retry gets the first answer. */
export interface IdempotencyTable {
  principal: string;
  key: string;
  /** SHA-256 of the request body, hex: the same key with another body is refused. */
  request_hash: string;
  /** `pending` while the first request runs, then `done`. */
  state: string;
  status_code: number | null;
  /** JSON text of the answer, once done. */
  response: string | null;
  created_at: string;
}

export interface TokensTable {
  id: string;
  name: string;
  /** SHA-256 of the token, hex. */
  hash: string;
  /** The token's first characters (`brt_` and 4 more), to recognise it in a listing. */
  prefix: string;
  /** JSON text: Scope[] */
  scopes: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

/** An audit entry as a row: the generated seq (bigint in PostgreSQL), the result as text, the detail as JSON text. */
export interface AuditTable extends Omit<AuditEntry, 'seq' | 'result' | 'detail'> {
  seq: Generated<number | string>;
  result: string;
  /** JSON text or null. */
  detail: string | null;
}

/** A secret value, AES-256-GCM encrypted (src/secrets/); no column holds plain text. */
export interface SecretsTable {
  /** A deployment id, or `global`. */
  scope: string;
  name: string;
  /** Id (fingerprint) of the master key that sealed the value. */
  key_id: string;
  /** base64 of the 12-byte IV. */
  nonce: string;
  /** base64 of ciphertext + GCM tag. */
  ciphertext: string;
  updated_at: string;
}

export interface GroupsTable {
  name: string;
  description: string | null;
  access: string;
  /** JSON text: GroupSpec (members by deployment id) */
  spec: string;
  created_at: string;
  updated_at: string;
}

export interface EmbeddingsTable {
  /** sha256 of model and text, hex. */
  key: string;
  model: string;
  /** JSON text: number[] */
  vector: string;
  created_at: string;
}

export interface BerthDatabase {
  embeddings: EmbeddingsTable;
  groups: GroupsTable;
  deployments: DeploymentsTable;
  tokens: TokensTable;
  audit_log: AuditTable;
  secrets: SecretsTable;
  revisions: RevisionsTable;
  idempotency_keys: IdempotencyTable;
}
