import type { MasterKey } from './cipher.js';

export type { SecretRow, SecretRows } from '../core/secret-rows.js';

/** The scope of secrets every deployment may reference (`secret_ref:global:KEY`); other scopes are deployment ids. */
export const GLOBAL_SCOPE = 'global';

/** What the API shows of a secret: its name and when it last changed, never its value. */
export interface SecretInfo {
  name: string;
  updated_at: string;
}

/**
 * Secret values by scope (a deployment id, or `global`) and name. Values go in and come out as
 * plain text; implementations keep them encrypted at rest.
 */
export interface SecretStore {
  /** Creates or replaces a value. */
  set(scope: string, name: string, value: string): Promise<SecretInfo>;
  /** The value, or undefined when there is none; throws SECRET_DECRYPT_FAILED when it cannot be opened. */
  get(scope: string, name: string): Promise<string | undefined>;
  /** Every value of a scope, by name. */
  values(scope: string): Promise<Map<string, string>>;
  /** Names (sorted) and update times of a scope. */
  list(scope: string): Promise<SecretInfo[]>;
  /** True when there was a value to delete. */
  delete(scope: string, name: string): Promise<boolean>;
  /** Deletes every value of a scope (a deleted deployment); returns how many. */
  deleteScope(scope: string): Promise<number>;
  /** How many values each master key id has sealed. */
  keyUsage(): Promise<Record<string, number>>;
  /**
   * In one transaction: with `key`, re-encrypts every value under it and makes it the current key;
   * without, re-encrypts only the values not sealed by the current key. Returns how many it re-encrypted.
   */
  reencrypt(key?: MasterKey): Promise<number>;
}
