import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startBridgeServer, type BridgeServer, type HealthView } from './bridge.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const EVERYTHING = path.join(ROOT, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');

const servers: BridgeServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function healthUntil(s: BridgeServer, ok: (code: number, h: HealthView) => boolean): Promise<{ code: number; body: HealthView }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${s.url}/health`);
    const body = (await res.json()) as HealthView;
    if (ok(res.status, body)) return { code: res.status, body };
    if (Date.now() > deadline) throw new Error(`health never matched; last ${res.status} ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the standalone bridge server', () => {
  it('flips /health to 503 while a crashed server restarts, and back to 200 with the new process', async () => {
    // A long first restart delay keeps the server down long enough to be seen down.
    const s = await startBridgeServer({ command: process.execPath, args: [EVERYTHING, 'stdio'], env: { PATH: process.env.PATH ?? '' }, port: 0, restart: { initialDelayMs: 3000, maxDelayMs: 3000, maxCrashes: 5, windowMs: 60_000 } });
    servers.push(s);
    const up = await healthUntil(s, (code) => code === 200);
    process.kill(up.body.pid!, 'SIGKILL');
    const down = await healthUntil(s, (code) => code !== 200);
    expect(down).toMatchObject({ code: 503, body: { status: 'restarting', pid: null } });
    const back = await healthUntil(s, (code, h) => code === 200 && h.pid !== up.body.pid);
    expect(back.body.status).toBe('ok');
  });

  it('refuses a Host that is not loopback when it listens on loopback (DNS rebinding)', async () => {
    const s = await startBridgeServer({ command: process.execPath, args: [EVERYTHING, 'stdio'], env: { PATH: process.env.PATH ?? '' }, port: 0 });
    servers.push(s);
    await healthUntil(s, (code) => code === 200);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${s.url}/mcp`, { method: 'POST', headers: { host: 'evil.example:80', 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBe(403);
  });
});
