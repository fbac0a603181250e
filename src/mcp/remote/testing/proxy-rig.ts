/**
 * A rig for the url byte proxy's tests: upstreams on 127.0.0.1 whose bytes the test writes itself (or plain
 * node HTTP servers), a `RemoteEndpoint` in front of them behind a small HTTP front that maps failures as the
 * gateway does, and a raw client that reads exactly what the proxy sent. Not shipped.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { toBerthError } from '../../../core/errors.js';
import { sendError } from '../../wire/http.js';
import { RemoteEndpoint, type RemoteEndpointOptions } from '../remote-endpoint.js';
import { RemoteAddressPolicy } from '../ssrf.js';

/** The rig's upstreams listen on loopback. */
export const LOOPBACK = new RemoteAddressPolicy(['loopback']);

export interface Upstream {
  url: string;
  /** Connections accepted so far. */
  connections(): number;
  /** Most connections open at once. */
  most(): number;
  /** Connections open now. */
  open(): number;
}

export interface Front {
  url: string;
  port: number;
  endpoint: RemoteEndpoint;
}

export class ProxyRig {
  private readonly closers: (() => Promise<void>)[] = [];

  /** An upstream that hands each accepted socket to `onSocket` (with its 0-based index). */
  raw(onSocket: (s: Socket, index: number) => void): Promise<Upstream> {
    return this.upstream(createNetServer(), onSocket);
  }

  /** A node HTTP server as the upstream. */
  http(handler: RequestListener): Promise<Upstream> {
    return this.upstream(createServer(handler));
  }

  /** A RemoteEndpoint in front of `url`, served on a loopback port; failures answered as the gateway does. */
  async proxy(url: string, over: Partial<RemoteEndpointOptions> = {}): Promise<Front> {
    const endpoint = new RemoteEndpoint({ endpoint: url, headers: {}, timeoutMs: 5000, guard: LOOPBACK, ...over });
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void endpoint.handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => sendError(res, toBerthError(err))));
    });
    const port = await this.listen(server);
    this.closers.push(() => endpoint.close());
    return { url: `http://127.0.0.1:${port}/mcp`, port, endpoint };
  }

  async close(): Promise<void> {
    for (const c of this.closers.splice(0).reverse()) await c();
  }

  private async upstream(server: Server | NetServer, onSocket?: (s: Socket, index: number) => void): Promise<Upstream> {
    let connections = 0;
    let open = 0;
    let most = 0;
    server.on('connection', (s: Socket) => {
      const index = connections++;
      most = Math.max(most, ++open);
      s.on('close', () => open--);
      s.on('error', () => {});
      onSocket?.(s, index);
    });
    const port = await this.listen(server);
    return { url: `http://127.0.0.1:${port}/mcp`, connections: () => connections, most: () => most, open: () => open };
  }

  private async listen(server: Server | NetServer): Promise<number> {
    const sockets = new Set<Socket>();
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.closers.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    );
    return (server.address() as AddressInfo).port;
  }
}

/** Sends `head` (request line and headers, no blank line) with `Connection: close` and returns every byte the peer sent until it closed. */
export function rawRequest(port: number, head: string, body = '', timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`${head}\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no end of the response within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`));
    }, timeoutMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

export interface ParsedResponse {
  status: number;
  /** Lower-cased names, values in order. */
  headers: Record<string, string[]>;
  body: Buffer;
  /** The message's own framing says it is whole: Content-Length bytes present, or the last chunk and trailers seen. */
  complete: boolean;
}

/** A strict reading of one HTTP/1.1 response as the client got it (the connection closed after it). */
export function parseResponse(wire: Buffer): ParsedResponse {
  const end = wire.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(wire.toString('latin1').slice(0, 200))}`);
  const [statusLine, ...lines] = wire.toString('latin1', 0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    (headers[line.slice(0, colon).trim().toLowerCase()] ??= []).push(line.slice(colon + 1).trim());
  }
  const rest = wire.subarray(end + 4);
  if (headers['transfer-encoding']) {
    const parts: Buffer[] = [];
    let i = 0;
    for (;;) {
      const lf = rest.indexOf('\r\n', i);
      if (lf < 0) return { status, headers, body: Buffer.concat(parts), complete: false };
      const size = parseInt(rest.toString('latin1', i, lf).split(';')[0]!, 16);
      if (!Number.isFinite(size) || rest.length < lf + 2 + size + 2) return { status, headers, body: Buffer.concat(parts), complete: false };
      if (size === 0) return { status, headers, body: Buffer.concat(parts), complete: rest.indexOf('\r\n', lf + 2) >= 0 };
      parts.push(rest.subarray(lf + 2, lf + 2 + size));
      i = lf + 2 + size + 2;
    }
  }
  const cl = headers['content-length'];
  if (cl) return { status, headers, body: rest.subarray(0, Number(cl[0])), complete: cl.length === 1 && rest.length === Number(cl[0]) };
  return { status, headers, body: rest, complete: true };
}

/** Writes `text` in pieces of `size` bytes, a millisecond apart, so the reader sees it cut everywhere. */
export async function writeInPieces(s: Socket, text: string, size = 7): Promise<void> {
  const bytes = Buffer.from(text, 'latin1');
  for (let i = 0; i < bytes.length; i += size) {
    s.write(bytes.subarray(i, i + size));
    await new Promise((r) => setTimeout(r, 1));
  }
}
