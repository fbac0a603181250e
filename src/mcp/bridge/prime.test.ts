import { describe, expect, it } from 'vitest';
import { PRIME_CAPABILITIES, capabilitiesWithin } from './prime.js';

describe('capabilitiesWithin (which clients may take a primed pool process)', () => {
  it('accepts clients that declare no more than the pool was primed with', () => {
    for (const caps of [{}, { roots: {} }, { roots: { listChanged: true } }, { roots: { listChanged: false } }, { sampling: {} }, { elicitation: {} }, { elicitation: { form: {} } }, { roots: {}, sampling: {}, elicitation: { form: {} } }]) {
      expect(capabilitiesWithin(caps, PRIME_CAPABILITIES), JSON.stringify(caps)).toBe(true);
    }
  });

  it('sends clients with other or richer capabilities to a cold process', () => {
    for (const caps of [{ experimental: {} }, { tasks: {} }, { extensions: {} }, { sampling: { tools: {} } }, { sampling: { context: {} } }, { elicitation: { url: {} } }, { elicitation: { form: {}, url: {} } }, { roots: null }, { roots: 'yes' }]) {
      expect(capabilitiesWithin(caps, PRIME_CAPABILITIES), JSON.stringify(caps)).toBe(false);
    }
  });
});
