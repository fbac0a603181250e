import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultAllowedHosts, defaultAllowedOrigins, HostGuard } from './host-guard.js';

// Real sockets, so remoteAddress is real: a tiny server records each request's guard verdict.
let port = 0;
let guard: HostGuard;
const server = createServer((req: IncomingMessage, res) => {
  const host = guard.effectiveHost(req);
  const err = guard.check(req, host);
  res.end(JSON.stringify({ host, code: err?.code ?? null }));
});

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function ask(headers: Record<string, string>): Promise<{ host: string; code: string | null }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body) as { host: string; code: string | null }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HostGuard (DNS rebinding defence)', () => {
  it('accepts loopback and the public host, refuses other Host names (a rebinding page)', async () => {
    guard = new HostGuard({ allowedHosts: defaultAllowedHosts('https://mcp.example.com', '0.0.0.0'), allowedOrigins: defaultAllowedOrigins('https://mcp.example.com'), trustedProxies: [] });
    expect((await ask({ host: `127.0.0.1:${port}` })).code).toBeNull();
    expect((await ask({ host: 'localhost:8080' })).code).toBeNull();
    expect((await ask({ host: 'mcp.example.com' })).code).toBeNull();
    expect((await ask({ host: 'attacker.example:8080' })).code).toBe('FORBIDDEN_HOST');
    expect((await ask({ host: 'mcp.example.com.attacker.example' })).code).toBe('FORBIDDEN_HOST');
  });

  it("checks Origin exactly when a browser sends one: Berth's own origin only, no other loopback page", async () => {
    guard = new HostGuard({ allowedHosts: ['*'], allowedOrigins: defaultAllowedOrigins('https://mcp.example.com'), trustedProxies: [] });
    expect((await ask({ host: 'x', origin: 'https://mcp.example.com' })).code).toBeNull();
    expect((await ask({ host: 'x', origin: 'http://localhost:5173' })).code).toBe('FORBIDDEN_ORIGIN');
    expect((await ask({ host: 'x', origin: 'http://localhost:3000' })).code).toBe('FORBIDDEN_ORIGIN');
    expect((await ask({ host: 'x', origin: 'https://sub.mcp.example.com' })).code).toBe('FORBIDDEN_ORIGIN');
    expect((await ask({ host: 'x', origin: 'https://evil.example' })).code).toBe('FORBIDDEN_ORIGIN');
    expect((await ask({ host: 'x', origin: 'null' })).code).toBe('FORBIDDEN_ORIGIN');
    expect((await ask({ host: 'x', origin: 'http://mcp.example.com' })).code).toBe('FORBIDDEN_ORIGIN');
  });

  it('on a loopback public URL, accepts the same port under each loopback name and nothing else', async () => {
    expect(defaultAllowedOrigins('http://127.0.0.1:8080').sort()).toStrictEqual(['http://127.0.0.1:8080', 'http://[::1]:8080', 'http://localhost:8080']);
    guard = new HostGuard({ allowedHosts: ['*'], allowedOrigins: defaultAllowedOrigins('http://127.0.0.1:8080'), trustedProxies: [] });
    expect((await ask({ host: 'x', origin: 'http://localhost:8080' })).code).toBeNull();
    expect((await ask({ host: 'x', origin: 'http://localhost:8081' })).code).toBe('FORBIDDEN_ORIGIN');
    expect((await ask({ host: 'x', origin: 'http://127.0.0.1:3000' })).code).toBe('FORBIDDEN_ORIGIN');
  });

  it('matches *.domain rules and ports', async () => {
    guard = new HostGuard({ allowedHosts: ['*.mcp.test', 'api.test:8443'], allowedOrigins: ['*'], trustedProxies: [] });
    expect((await ask({ host: 'abc.mcp.test' })).code).toBeNull();
    expect((await ask({ host: 'abc.mcp.test:9999' })).code).toBeNull();
    expect((await ask({ host: 'mcp.test' })).code).toBe('FORBIDDEN_HOST');
    expect((await ask({ host: 'api.test:8443' })).code).toBeNull();
    expect((await ask({ host: 'api.test' })).code).toBe('FORBIDDEN_HOST');
  });

  it('believes X-Forwarded-Host only from trusted proxies', async () => {
    guard = new HostGuard({ allowedHosts: ['public.example'], allowedOrigins: ['*'], trustedProxies: [] });
    const untrusted = await ask({ host: 'public.example', 'x-forwarded-host': 'evil.example' });
    expect(untrusted).toEqual({ host: 'public.example', code: null });
    guard = new HostGuard({ allowedHosts: ['public.example'], allowedOrigins: ['*'], trustedProxies: ['127.0.0.0/8'] });
    const trusted = await ask({ host: 'internal:8080', 'x-forwarded-host': 'public.example, proxy2' });
    expect(trusted).toEqual({ host: 'public.example', code: null });
    const trustedEvil = await ask({ host: 'public.example', 'x-forwarded-host': 'evil.example' });
    expect(trustedEvil.code).toBe('FORBIDDEN_HOST');
    guard = new HostGuard({ allowedHosts: ['public.example'], allowedOrigins: ['*'], trustedProxies: ['10.0.0.0/8'] });
    expect((await ask({ host: 'public.example', 'x-forwarded-host': 'evil.example' })).host).toBe('public.example');
  });

  it('rejects bad proxy entries loudly', () => {
    expect(() => new HostGuard({ allowedHosts: [], allowedOrigins: [], trustedProxies: ['not-an-ip'] })).toThrow(/BERTH_TRUSTED_PROXIES/);
    expect(() => new HostGuard({ allowedHosts: [], allowedOrigins: [], trustedProxies: ['10.0.0.0/99'] })).toThrow(/prefix/);
  });

  it('believes a loopback Host name only on a connection that arrived on a loopback address', async () => {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!external) throw new Error('this test needs a non-loopback IPv4 address on the machine');
    const wide = createServer((req: IncomingMessage, res) => {
      const host = guard.effectiveHost(req);
      res.end(JSON.stringify({ code: guard.check(req, host)?.code ?? null, client: guard.clientAddress(req) }));
    });
    await new Promise<void>((r) => wide.listen(0, '0.0.0.0', r));
    const widePort = (wide.address() as AddressInfo).port;
    const via = (address: string, host: string) =>
      new Promise<{ code: string | null; client: string }>((resolve, reject) => {
        const req = request({ host: address, port: widePort, path: '/', headers: { host } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(JSON.parse(body) as { code: string | null; client: string }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      guard = new HostGuard({ allowedHosts: defaultAllowedHosts('http://127.0.0.1:8080', '0.0.0.0'), allowedOrigins: [], trustedProxies: [] });
      expect(await via('127.0.0.1', 'localhost:8080')).toStrictEqual({ code: null, client: '127.0.0.1' });
      expect((await via(external, 'localhost:8080')).code).toBe('FORBIDDEN_HOST');
      expect((await via(external, '127.0.0.1:8080')).code).toBe('FORBIDDEN_HOST');
      // The operator's own names still work from the network.
      guard = new HostGuard({ allowedHosts: ['localhost', `${external}`], allowedOrigins: [], trustedProxies: [] });
      expect((await via(external, `${external}:${widePort}`)).code).toBeNull();
      expect((await via(external, 'localhost')).code).toBe('FORBIDDEN_HOST');
    } finally {
      await new Promise<void>((r) => wide.close(() => r()));
    }
  });
});
