import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/berth-process.js';
import { CLIENTS, textOf, type ToolResult } from '../support/clients.js';
import { freePort } from '../support/ports.js';

const EVERYTHING = join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

interface Health {
  status: string;
  pid: number | null;
}

/** `node bin/berth.js bridge …` (from dist/) as its own process, with its output kept. */
function runBridge(args: string[], env: Record<string, string> = {}): { proc: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [join(ROOT, 'bin/berth.js'), 'bridge', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, output: () => out, exited };
}

async function health(base: string): Promise<{ status: number; body: Health }> {
  const res = await fetch(`${base}/health`);
  return { status: res.status, body: (await res.json()) as Health };
}

/** Polls /health until `ok` says so (the bridge needs a moment to start its server). */
async function healthUntil(base: string, ok: (h: { status: number; body: Health }) => boolean, what: string): Promise<{ status: number; body: Health }> {
  const deadline = Date.now() + 30_000;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      const h = await health(base);
      if (ok(h)) return h;
      last = h;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`/health never showed ${what}; last: ${JSON.stringify(last)}`);
}

describe('berth bridge: one stdio server served on its own port, no Berth', () => {
  let bridge: ReturnType<typeof runBridge>;
  let base = '';

  beforeAll(async () => {
    const port = await freePort();
    bridge = runBridge(['--port', String(port), '--', process.execPath, EVERYTHING, 'stdio']);
    base = `http://127.0.0.1:${port}`;
    await healthUntil(base, (h) => h.status === 200, 'ready');
  });
  afterAll(async () => {
    bridge?.proc.kill('SIGTERM');
    await bridge?.exited;
  });

  for (const [name, connect] of CLIENTS) {
    it(`serves Streamable HTTP at /mcp to the ${name} client`, async () => {
      const c = await connect(`${base}/mcp`);
      try {
        expect(await c.listToolNames()).toContain('echo');
        expect(textOf(await c.call('echo', { message: `hello ${name}` }))).toContain(`hello ${name}`);
      } finally {
        await c.close();
      }
    });
  }

  it('serves a stateless 2026-07-28 client (2.x SDK, pinned) at the same /mcp', async () => {
    const client = new ClientV2({ name: 'bridge-stateless', version: '2.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new TransportV2(new URL(`${base}/mcp`)));
    try {
      expect(textOf((await client.callTool({ name: 'echo', arguments: { message: 'no session' } })) as ToolResult)).toContain('no session');
    } finally {
      await client.close();
    }
  });

  it('serves a legacy HTTP+SSE client at /sse', async () => {
    const client = new ClientV1({ name: 'bridge-sse', version: '1.0.0' });
    await client.connect(new SSEClientTransport(new URL(`${base}/sse`)));
    try {
      expect(textOf((await client.callTool({ name: 'echo', arguments: { message: 'over sse' } })) as ToolResult)).toContain('over sse');
    } finally {
      await client.close();
    }
  });

  it('refuses a body over the limit with 413 and an unknown path with 404', async () => {
    const big = await fetch(`${base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: 'x'.repeat(5 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { data: { code: string } } }).error.data.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('restarts a server that was killed: /health names the new process', async () => {
    const before = await health(base);
    expect(before.status).toBe(200);
    expect(before.body.pid).toBeGreaterThan(0);
    process.kill(before.body.pid!, 'SIGKILL');
    const after = await healthUntil(base, (h) => h.status === 200 && h.body.pid !== before.body.pid, 'a restarted server');
    expect(after.body.status).toBe('ok');
    const c = await CLIENTS[0]![1](`${base}/mcp`);
    try {
      expect(textOf(await c.call('echo', { message: 'after restart' }))).toContain('after restart');
    } finally {
      await c.close();
    }
  });

  it('stops its server on SIGTERM and exits 0', async () => {
    const { body } = await health(base);
    bridge.proc.kill('SIGTERM');
    expect(await bridge.exited).toBe(0);
    expect(() => process.kill(body.pid!, 0)).toThrow();
  });
});

describe('berth bridge: health, token, failure', () => {
  it('answers /health 503 until the server answered initialize', async () => {
    const port = await freePort();
    // A "server" that never answers: the port is up, the bridge is not ready.
    const b = runBridge(['--port', String(port), '--', process.execPath, '-e', 'setInterval(() => {}, 1000)']);
    try {
      const h = await healthUntil(`http://127.0.0.1:${port}`, () => true, 'an answer');
      expect(h.status).toBe(503);
      expect(h.body.status).toBe('starting');
    } finally {
      b.proc.kill('SIGTERM');
      await b.exited;
    }
  });

  it('requires the bearer token from BERTH_BRIDGE_TOKEN on /mcp (not on /health), and does not pass it to the server', async () => {
    const port = await freePort();
    const b = runBridge(['--port', String(port), '--', process.execPath, EVERYTHING, 'stdio'], { BERTH_BRIDGE_TOKEN: 'bridge-secret-1' });
    const base = `http://127.0.0.1:${port}`;
    try {
      await healthUntil(base, (h) => h.status === 200, 'ready');
      const refused = await fetch(`${base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
      expect(refused.status).toBe(401);
      await expect(CLIENTS[1]![1](`${base}/mcp`, { authorization: 'Bearer wrong' })).rejects.toThrow();
      const c = await CLIENTS[1]![1](`${base}/mcp`, { authorization: 'Bearer bridge-secret-1' });
      try {
        const env = textOf(await c.call('get-env'));
        expect(env).toContain('PATH');
        expect(env).not.toContain('bridge-secret-1');
      } finally {
        await c.close();
      }
    } finally {
      b.proc.kill('SIGTERM');
      await b.exited;
    }
  });

  it('exits 1 with the reason when the server cannot start', async () => {
    const port = await freePort();
    const b = runBridge(['--port', String(port), '--', process.execPath, '-e', 'process.exit(7)']);
    expect(await b.exited).toBe(1);
    expect(b.output()).toMatch(/cannot be kept running/);
  });
});
