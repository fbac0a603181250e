import { describe, expect, it } from 'vitest';
import { GroupRelay } from './group-relay.js';

const relay = (): GroupRelay => new GroupRelay(async (group) => (group === 'pair' ? ['dep-a', 'dep-b'] : undefined));

describe('GroupRelay', () => {
  it("names a principal for the group's client: its own id and address, scoped to the members", async () => {
    const r = relay();
    const p = await r.verify(r.tokenFor('pair', { principal: 'tok_1', address: '192.0.2.7' }));
    expect(p).toEqual({ id: 'relay:pair:tok_1', name: 'group pair for tok_1', scopes: ['invoke:dep-a', 'invoke:dep-b'], address: '192.0.2.7' });
    const other = await r.verify(r.tokenFor('pair', { principal: 'tok_2', address: '192.0.2.7' }));
    expect(other?.id).toBe('relay:pair:tok_2');
  });

  it('falls back to one principal for the group when the client was not identified', async () => {
    const r = relay();
    expect(await r.verify(r.tokenFor('pair', null))).toEqual({ id: 'group:pair', name: 'group pair', scopes: ['invoke:dep-a', 'invoke:dep-b'] });
  });

  it('passes other tokens by, and refuses a forged, altered or foreign-key one', async () => {
    const r = relay();
    expect(await r.verify('brk_something')).toBeNull();
    const good = r.tokenFor('pair', { principal: 'tok_1', address: '192.0.2.7' });
    const [, who, mac] = good.slice(4).split('.') as [string, string, string];
    const forgedWho = Buffer.from(JSON.stringify({ p: 'env', a: '192.0.2.7' })).toString('base64url');
    for (const bad of [`brg_pair.${forgedWho}.${mac}`, `brg_other.${who}.${mac}`, `brg_pair.${who}`, `${good}x`, relay().tokenFor('pair', null), `brg_pair.${who}.${mac}.${'x'.repeat(2000)}`]) {
      await expect(r.verify(bad), bad.slice(0, 40)).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    }
  });
});
