import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H1Pool, H1TimeoutError, type H1Exchange } from './h1-pool.js';
import type { ResponseHead } from './h1-parser.js';

const servers: (Server | NetServer)[] = [];
const pools: H1Pool[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  for (const s of servers.splice(0)) {
    (s as Server).closeAllConnections?.();
    await new Promise((r) => s.close(r));
  }
});

async function listen<T extends Server | NetServer>(s: T): Promise<URL> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}/mcp`);
}

function pool(url: URL, opts: Partial<{ maxConnections: number; idleMs: number; headersTimeoutMs: number }> = {}): H1Pool {
  const p = new H1Pool(url, { maxConnections: 8, idleMs: 30_000, headersTimeoutMs: 5_000, ...opts });
  pools.push(p);
  return p;
}

interface Outcome {
  head: ResponseHead | null;
  body: string;
  error: Error | null;
  beforeHead: boolean | null;
  /** Chunks delivered while the exchange had asked for a pause. */
  whilePaused: number;
}

/** Sends one request and collects the whole outcome. */
function send(p: H1Pool, method: string, body = '', opts: { pauseEvery?: number; onChunk?: (n: number) => void } = {}): Promise<Outcome> & { abort(): void } {
  let abort = () => {};
  const promise = new Promise<Outcome>((resolve) => {
    const out: Outcome = { head: null, body: '', error: null, beforeHead: null, whilePaused: 0 };
    let paused = false;
    // The rest of the socket read that asked for the pause is still delivered; nothing after it may be.
    let sameRead = false;
    const chunks: Buffer[] = [];
    let n = 0;
    const ex: H1Exchange = {
      onHead: (h) => (out.head = h),
      onData: (c) => {
        chunks.push(Buffer.from(c));
        if (paused && !sameRead) out.whilePaused++;
        opts.onChunk?.(++n);
        if (opts.pauseEvery && n % opts.pauseEvery === 0) {
          paused = true;
          sameRead = true;
          queueMicrotask(() => (sameRead = false));
          setTimeout(() => {
            paused = false;
            req.resume();
          }, 5);
          return false;
        }
        return true;
      },
      onEnd: () => resolve({ ...out, body: Buffer.concat(chunks).toString() }),
      onError: (err, beforeHead) => resolve({ ...out, body: Buffer.concat(chunks).toString(), error: err, beforeHead }),
    };
    const b = Buffer.from(body);
    const req = p.request(`${method} /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: ${b.length}\r\n\r\n`, b.length ? b : null, ex, method === 'HEAD');
    abort = () => req.abort();
  });
  return Object.assign(promise, { abort: () => abort() });
}

/** An HTTP server that echoes method and body and counts connections. */
async function echoServer(): Promise<{ url: URL; connections: () => number; server: Server }> {
  let connections = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => res.end(`${req.method} ${body}`));
  });
  server.on('connection', () => connections++);
  return { url: await listen(server), connections: () => connections, server };
}

describe('H1Pool', () => {
  it('reuses one keep-alive connection for sequential requests', async () => {
    const { url, connections } = await echoServer();
    const p = pool(url);
    for (let i = 0; i < 20; i++) {
      const out = await send(p, 'POST', `n${i}`);
      expect(out.error).toBeNull();
      expect(out.head?.status).toBe(200);
      expect(out.body).toBe(`POST n${i}`);
    }
    expect(connections()).toBe(1);
  });

  it('never opens more than maxConnections and answers every queued request', async () => {
    let open = 0;
    let most = 0;
    const server = createServer((req, res) => {
      setTimeout(() => res.end(req.url), 10);
    });
    server.on('connection', (s: Socket) => {
      open++;
      most = Math.max(most, open);
      s.on('close', () => open--);
    });
    const p = pool(await listen(server), { maxConnections: 3 });
    const outs = await Promise.all(Array.from({ length: 30 }, () => send(p, 'GET')));
    expect(outs.every((o) => o.error === null && o.body === '/mcp')).toBe(true);
    expect(most).toBe(3);
    expect(p.connections).toBeLessThanOrEqual(3);
  });

  it('retries once on a fresh connection when a reused one was closed by the upstream', async () => {
    let perConn = 0;
    let connections = 0;
    const server = createNetServer((s) => {
      connections++;
      let served = 0;
      s.on('data', () => {
        // The second request on a connection finds it closed, as when a keep-alive timeout races a request.
        if (served++ === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else s.destroy();
        perConn = Math.max(perConn, served);
      });
    });
    const p = pool(await listen(server));
    expect((await send(p, 'POST', 'a')).body).toBe('ok');
    const second = await send(p, 'POST', 'b');
    expect(second.error).toBeNull();
    expect(second.body).toBe('ok');
    expect(connections).toBe(2);
    expect(perConn).toBe(2);
  });

  it('fails with H1TimeoutError when the head does not come in time, and with a connect error when nothing listens', async () => {
    const silent = createNetServer((s) => s.resume());
    const p = pool(await listen(silent), { headersTimeoutMs: 200 });
    const started = Date.now();
    const out = await send(p, 'POST', 'x');
    expect(out.error).toBeInstanceOf(H1TimeoutError);
    expect(out.beforeHead).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);

    const closed = await listen(createNetServer());
    await new Promise((r) => servers.pop()!.close(r));
    const refused = await send(pool(closed), 'POST', 'x');
    expect(refused.error?.message).toMatch(/ECONNREFUSED/);
    expect(refused.beforeHead).toBe(true);
  });

  it('reports a response cut mid-body as an error after the head', async () => {
    const server = createNetServer((s) => {
      s.once('data', () => {
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
        setTimeout(() => s.destroy(), 20);
      });
    });
    const out = await send(pool(await listen(server)), 'POST', 'x');
    expect(out.head?.status).toBe(200);
    expect(out.body).toBe('partial');
    expect(out.error?.message).toMatch(/mid-response/);
    expect(out.beforeHead).toBe(false);
  });

  it('fails a request on a protocol error and drops that connection', async () => {
    const server = createNetServer((s) => s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n')));
    const p = pool(await listen(server));
    const out = await send(p, 'POST', 'x');
    expect(out.error?.message).toMatch(/Content-Length/);
    await new Promise((r) => setTimeout(r, 20));
    expect(p.connections).toBe(0);
  });

  it('streams a large chunked body with back-pressure, byte for byte', async () => {
    const piece = 'x'.repeat(64 * 1024);
    const server = createServer((_req, res) => {
      let i = 0;
      const write = () => {
        while (i < 128) if (!res.write(`${i++}${piece}`)) return void res.once('drain', write);
        res.end();
      };
      write();
    });
    const out = await send(pool(await listen(server)), 'GET', '', { pauseEvery: 7 });
    expect(out.error).toBeNull();
    expect(out.body.length).toBe(Array.from({ length: 128 }, (_, i) => `${i}${piece}`.length).reduce((a, b) => a + b));
    expect(out.body.startsWith(`0${piece}1`)).toBe(true);
    expect(out.whilePaused).toBe(0);
  });

  it('delivers each event of a slow stream as it comes, and abort() closes the upstream connection', async () => {
    let upstreamClosed = false;
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const t = setInterval(() => res.write(`data: ${n++}\n\n`), 20);
      req.socket.on('close', () => {
        upstreamClosed = true;
        clearInterval(t);
      });
    });
    const p = pool(await listen(server));
    let got = 0;
    const stream = send(p, 'GET', '', { onChunk: (n) => (got = n) });
    while (got < 3) await new Promise((r) => setTimeout(r, 10));
    stream.abort();
    for (let i = 0; i < 50 && !upstreamClosed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(upstreamClosed).toBe(true);
    expect(p.connections).toBe(0);
  });
});
