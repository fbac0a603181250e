import { describe, expect, it } from 'vitest';
import { BerthError } from '../core/index.js';
import { findRefs, isWholeRef, substituteRefs } from './refs.js';

describe('secret references', () => {
  it('finds whole and embedded references, with scope and name', () => {
    expect(findRefs('secret_ref:everything-k3x9f2ab01cd:API_KEY', 'f')).toStrictEqual([{ scope: 'everything-k3x9f2ab01cd', name: 'API_KEY', text: 'secret_ref:everything-k3x9f2ab01cd:API_KEY' }]);
    expect(findRefs('Bearer secret_ref:global:GH_TOKEN', 'f').map((r) => r.text)).toStrictEqual(['secret_ref:global:GH_TOKEN']);
    expect(findRefs('u=secret_ref:global:USER;p=secret_ref:global:PASS', 'f').map((r) => r.name)).toStrictEqual(['USER', 'PASS']);
    expect(findRefs('no reference here', 'f')).toStrictEqual([]);
  });

  it('rejects malformed references naming the field, never the value', () => {
    const bads = ['secret_ref: hunter2x', 'secret_ref:global hunter2x', 'secret_ref:Hunter2x:KEY', 'secret_ref:global:1hunter2x', 'x secret_ref:global:OK and secret_ref:bad hunter2x:K', `secret_ref:global:hunter2x${'K'.repeat(129)}`];
    for (const bad of bads) {
      let err: unknown;
      try {
        findRefs(bad, 'spec.env.TOKEN');
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('VALIDATION_FAILED');
      expect((err as BerthError).message).toContain('spec.env.TOKEN');
      expect((err as BerthError).message.toLowerCase()).not.toContain('hunter2x');
    }
  });

  it('tells a value that is exactly one reference from one that embeds it', () => {
    expect(isWholeRef('secret_ref:global:KEY', 'f')).toBe(true);
    expect(isWholeRef('Bearer secret_ref:global:KEY', 'f')).toBe(false);
    expect(isWholeRef('plain', 'f')).toBe(false);
  });

  it('substitutes each reference and leaves the rest of the text alone', () => {
    const values: Record<string, string> = { 'secret_ref:global:A': 'alpha$&$1', 'secret_ref:dep-1:B': 'beta' };
    expect(substituteRefs('Bearer secret_ref:global:A / secret_ref:dep-1:B!', (r) => values[r.text]!)).toBe('Bearer alpha$&$1 / beta!');
    expect(substituteRefs('untouched', () => 'x')).toBe('untouched');
  });
});
