import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../core/errors.js';
import { RemoteAddressPolicy, classify, forbiddenIn, type AddressClass } from './ssrf.js';

describe('classify', () => {
  it.each<[string, AddressClass]>([
    ['8.8.8.8', 'public'],
    ['2606:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['::1', 'loopback'],
    ['10.2.3.4', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    // IPv6 forms that carry an IPv4 address are judged by it.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    ['::10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['2002:a9fe:a9fe::1', 'metadata'],
    ['not an address', 'unspecified'],
  ])('%s is %s', (ip, cls) => {
    expect(classify(ip)).toBe(cls);
  });
});

describe('RemoteAddressPolicy', () => {
  it('allows only public addresses by default, and never link-local, metadata, unspecified, multicast or broadcast ones', () => {
    const none = new RemoteAddressPolicy([]);
    const all = new RemoteAddressPolicy(['loopback', 'private', '0.0.0.0/1', '128.0.0.0/1', '::/1', '8000::/1']);
    expect(none.refusal('8.8.8.8')).toBeNull();
    expect(none.refusal('127.0.0.1')).toMatch(/^127\.0\.0\.1 is a loopback address, not allowed unless BERTH_REMOTE_ALLOW lists loopback or a CIDR covering it$/);
    expect(none.refusal('10.0.0.1')).toMatch(/lists private or a CIDR/);
    expect(none.refusal('198.18.0.1')).toMatch(/special-purpose address, not allowed unless BERTH_REMOTE_ALLOW lists a CIDR/);
    for (const ip of ['169.254.169.254', 'fd00:ec2::254', '100.100.100.200', '169.254.1.1', 'fe80::1', '0.0.0.0', '::', '224.0.0.1', '255.255.255.255', '::ffff:169.254.169.254']) {
      expect(all.refusal(ip), ip).toMatch(/never allowed$/);
    }
    for (const ip of ['127.0.0.1', '::1', '10.0.0.1', 'fd12::1', '::ffff:127.0.0.1', '198.18.0.1']) expect(all.refusal(ip), ip).toBeNull();
  });

  it('lets keywords and CIDRs open exactly what they name', () => {
    const loop = new RemoteAddressPolicy(['loopback']);
    expect(loop.refusal('127.0.0.2')).toBeNull();
    expect(loop.refusal('::1')).toBeNull();
    expect(loop.refusal('10.0.0.1')).not.toBeNull();
    const cidr = new RemoteAddressPolicy(['10.1.0.0/16', '127.0.0.2', 'fd12::/16']);
    expect(cidr.refusal('10.1.200.3')).toBeNull();
    expect(cidr.refusal('::ffff:10.1.200.3')).toBeNull();
    expect(cidr.refusal('10.2.0.1')).not.toBeNull();
    expect(cidr.refusal('127.0.0.2')).toBeNull();
    expect(cidr.refusal('127.0.0.1')).not.toBeNull();
    expect(cidr.refusal('fd12:1::1')).toBeNull();
    expect(cidr.refusal('fd13::1')).not.toBeNull();
  });

  it('refuses bad entries, and entries that name never-allowed addresses, with CONFIG_INVALID', () => {
    for (const bad of ['nope', '10.0.0.0/40', '169.254.169.254', '169.254.0.0/16', 'fe80::/10']) {
      expect(() => new RemoteAddressPolicy([bad]), bad).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error);
    }
  });

  it('checks a literal endpoint address at create time (REMOTE_ADDRESS_FORBIDDEN), leaving names to connect time', () => {
    const none = new RemoteAddressPolicy([]);
    for (const url of ['http://127.0.0.1:9/mcp', 'http://[::1]/mcp', 'http://169.254.169.254/latest', 'http://[fd00:ec2::254]/', 'http://[::ffff:127.0.0.1]/', 'http://2130706433/', 'http://0x7f.1/', 'https://10.0.0.1/']) {
      let err: unknown;
      try {
        none.checkEndpoint(url);
      } catch (e) {
        err = e;
      }
      expect(err, url).toBeInstanceOf(BerthError);
      expect((err as BerthError).code).toBe('REMOTE_ADDRESS_FORBIDDEN');
      expect((err as BerthError).status).toBe(400);
    }
    expect(() => none.checkEndpoint('https://mcp.example.com/mcp')).not.toThrow();
    expect(() => none.checkEndpoint('http://localhost:9/mcp')).not.toThrow();
    expect(() => new RemoteAddressPolicy(['loopback']).checkEndpoint('http://127.0.0.1:9/mcp')).not.toThrow();
  });

  it('lookup keeps only allowed addresses, and fails with the reason when none is left', async () => {
    const lookup = (policy: RemoteAddressPolicy, all: boolean) =>
      new Promise<{ err: Error | null; address: unknown }>((resolve) => policy.lookup('localhost', { all }, (err, address) => resolve({ err, address })));
    const refused = await lookup(new RemoteAddressPolicy([]), true);
    expect(forbiddenIn(refused.err)?.message).toMatch(/^localhost resolves to no address Berth may connect to: (127\.0\.0\.1|::1) is a loopback address/);
    const ok = await lookup(new RemoteAddressPolicy(['loopback']), false);
    expect(ok.err).toBeNull();
    expect(['127.0.0.1', '::1']).toContain(ok.address);
  });

  describe('connector', () => {
    let server: Server | undefined;
    let accepted = 0;
    afterEach(async () => {
      await new Promise((r) => server?.close(r));
      server = undefined;
    });

    async function connectVia(policy: RemoteAddressPolicy, hostname: string): Promise<Error | null> {
      accepted = 0;
      server = createServer((s) => {
        accepted++;
        s.destroy();
      });
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      const port = String((server.address() as AddressInfo).port);
      return new Promise((resolve) =>
        policy.connector()({ hostname, protocol: 'http:', port }, (err, socket) => {
          socket?.destroy();
          resolve(err);
        }),
      );
    }

    it('refuses a literal address before connecting and a name through its lookup: nothing reaches the server', async () => {
      const none = new RemoteAddressPolicy([]);
      expect(forbiddenIn(await connectVia(none, '127.0.0.1'))?.message).toMatch(/127\.0\.0\.1 is a loopback address/);
      expect(forbiddenIn(await connectVia(none, 'localhost'))?.message).toMatch(/localhost resolves to/);
      await new Promise((r) => setTimeout(r, 50));
      expect(accepted).toBe(0);
    });

    it('connects when the address is allowed', async () => {
      expect(await connectVia(new RemoteAddressPolicy(['loopback']), 'localhost')).toBeNull();
      expect(await connectVia(new RemoteAddressPolicy(['127.0.0.1/32']), '127.0.0.1')).toBeNull();
    });
  });
});
