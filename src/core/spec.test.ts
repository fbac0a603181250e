import { describe, expect, it } from 'vitest';
import { DeploymentSpecSchema } from './spec.js';

describe('DeploymentSpecSchema', () => {
  it('takes isolated.prime, leaves it unset by default, and names the field when it is wrong', () => {
    const primed = DeploymentSpecSchema.parse({ type: 'process', command: 'node', mode: 'isolated', isolated: { warm: 2, prime: false } });
    expect(primed.type === 'process' && primed.isolated).toEqual({ max_sessions: 32, warm: 2, prime: false });
    const plain = DeploymentSpecSchema.parse({ type: 'process', command: 'node' });
    expect(plain.type === 'process' && plain.isolated.prime).toBeUndefined();
    const bad = DeploymentSpecSchema.safeParse({ type: 'process', command: 'node', isolated: { prime: 'yes' } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['isolated', 'prime']);
  });

  it('takes a url transport from the list only', () => {
    expect(DeploymentSpecSchema.parse({ type: 'url', endpoint: 'http://127.0.0.1:1/mcp', transport: 'sse' })).toMatchObject({ transport: 'sse' });
    const bad = DeploymentSpecSchema.safeParse({ type: 'url', endpoint: 'http://127.0.0.1:1/mcp', transport: 'websocket' });
    expect(bad.error?.issues[0]?.path).toEqual(['transport']);
  });
});
