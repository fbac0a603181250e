// The rows under the encrypted secret store: sealed values only, never plain text. The encrypted store
// (secrets) uses them and the SQL store (store) keeps them, so the port lives in core.

/** One value as stored: which key sealed it, the random IV, and ciphertext + GCM tag. */
export interface Sealed {
  key_id: string;
  /** base64 of the 12-byte IV. */
  nonce: string;
  /** base64 of the ciphertext followed by the 16-byte authentication tag. */
  ciphertext: string;
}

/** A stored row: the sealed value and its place. */
export interface SecretRow extends Sealed {
  scope: string;
  name: string;
  updated_at: string;
}

/** Persistence under the encrypted store: rows only, never plain values. One per database kind, plus memory. */
export interface SecretRows {
  upsert(row: SecretRow): Promise<void>;
  get(scope: string, name: string): Promise<SecretRow | undefined>;
  /** Rows of a scope, sorted by name. */
  list(scope: string): Promise<SecretRow[]>;
  delete(scope: string, name: string): Promise<boolean>;
  deleteScope(scope: string): Promise<number>;
  keyUsage(): Promise<Record<string, number>>;
  /**
   * One transaction over every row (locked against other writers): `change` returns the replacement of
   * a row, or undefined to keep it; throwing rolls everything back. Returns how many rows changed.
   */
  rewriteAll(change: (row: SecretRow) => SecretRow | undefined): Promise<number>;
}
