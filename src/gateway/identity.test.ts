import { describe, expect, it } from 'vitest';
import { clientAddress } from './identity.js';

describe('clientAddress: what the per-address caps count', () => {
  it('keeps IPv4 addresses, and unwraps IPv4-mapped IPv6 ones', () => {
    expect(clientAddress('127.0.0.2')).toBe('127.0.0.2');
    expect(clientAddress('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(clientAddress('::FFFF:10.1.2.3')).toBe('10.1.2.3');
  });

  it('counts an IPv6 client by its /64, whichever form the address is written in', () => {
    const a = clientAddress('2001:db8:0:1::1');
    expect(a).toBe('2001:db8:0:1::/64');
    expect(clientAddress('2001:0db8:0000:0001:ffff:eeee:dddd:cccc')).toBe(a);
    expect(clientAddress('2001:db8:0:1:1:2:3:4%eth0')).toBe(a);
    expect(clientAddress('2001:db8:0:2::1')).not.toBe(a);
    expect(clientAddress('::1')).toBe('0:0:0:0::/64');
    expect(clientAddress('fe80::1')).toBe('fe80:0:0:0::/64');
    expect(clientAddress('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
  });

  it('keeps what it cannot parse as it is, and names a missing address', () => {
    expect(clientAddress(undefined)).toBe('unknown');
    expect(clientAddress('1:2:3')).toBe('1:2:3');
    expect(clientAddress('1::2::3')).toBe('1::2::3');
  });
});
