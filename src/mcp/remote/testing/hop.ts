/**
 * A forwarding HTTP hop for tests: stands in front of a test remote on its own port (and, if asked, its own
 * loopback address), forwards every request to the remote's origin, and lets a test look at or answer a
 * request itself first. Not shipped.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Hop {
  /** `http://HOST:PORT`: append the remote's path. */
  origin: string;
  close(): Promise<void>;
}

/** `intercept` sees each request first; when it returns true it has answered it and nothing is forwarded. */
export async function startHop(target: string, opts: { host?: string; intercept?: (req: IncomingMessage, res: ServerResponse) => boolean } = {}): Promise<Hop> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    if (opts.intercept?.(req, res)) return;
    const up = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
    res.on('close', () => up.destroy());
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    origin: `http://${host}:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
