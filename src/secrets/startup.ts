import { BerthError } from '../core/errors.js';
import type { MasterKeys } from './master-key.js';
import type { SecretStore } from './types.js';

/**
 * Start-up: every stored value must be one this Berth can open (else it refuses to start, naming the
 * key ids it lacks), and values sealed by an older key (BERTH_PREVIOUS_MASTER_KEY, an interrupted
 * rotation) are re-encrypted with the current one. Returns how many were re-encrypted.
 */
export async function settleSecrets(store: SecretStore, keys: Pick<MasterKeys, 'cipher' | 'settle' | 'source'>): Promise<number> {
  const usage = await store.keyUsage();
  const unknown = Object.entries(usage).filter(([id]) => !keys.cipher.knows(id));
  if (unknown.length > 0) {
    const what = unknown.map(([id, n]) => `${n} under key ${id}`).join(', ');
    const fix = keys.source === 'env' ? 'set BERTH_MASTER_KEY (or BERTH_PREVIOUS_MASTER_KEY) to the key they were stored with' : 'restore the key file they were stored with, or set BERTH_PREVIOUS_MASTER_KEY to that key';
    throw new BerthError('CONFIG_INVALID', `Stored secrets were encrypted with a master key this Berth does not have (${what}; the current key is ${keys.cipher.currentKeyId}): ${fix}`);
  }
  const reencrypted = await store.reencrypt();
  keys.settle();
  return reencrypted;
}
