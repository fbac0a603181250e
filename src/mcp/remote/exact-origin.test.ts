import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { exactOrigin } from './exact-origin.js';

const servers: Server[] = [];
async function listen(): Promise<string> {
  const s = createServer((_req, res) => res.end('hi'));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('exactOrigin: the guard for a workload bridge', () => {
  it('connects to exactly the given origin and refuses another port on the same host', async () => {
    const [mine, other] = [await listen(), await listen()];
    const guard = exactOrigin(`${mine}/mcp`);
    const ok = new Pool(mine, { connect: guard.connector() });
    const refused = new Pool(other, { connect: guard.connector() });
    try {
      const res = await ok.request({ method: 'GET', path: '/' });
      expect(await res.body.text()).toBe('hi');
      await expect(refused.request({ method: 'GET', path: '/' })).rejects.toThrow(/only http:\/\/127\.0\.0\.1:\d+ may be reached/);
    } finally {
      await ok.close();
      await refused.close();
    }
  });
});
